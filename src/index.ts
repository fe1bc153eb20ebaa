// The library API: the pipeline stages as functions, for scripts that embed mailcamp.
export { loadCampaign } from './campaign/load.js';
export type { Campaign } from './campaign/types.js';
export { runSend, type SendOptions, type SendSummary } from './pipeline/send.js';
export { runValidate, type ValidateOptions, type ValidateResult } from './pipeline/validate.js';
export { runPreview, type PreviewOptions } from './pipeline/preview.js';
export { runStatus, type StatusOptions, type StatusResult } from './pipeline/status.js';
export { MailcampError } from './shared/errors.js';
export { type Diagnostic, Diagnostics, formatDiagnostic, ValidationError } from './shared/diagnostics.js';
export { type Clock, systemClock, ManualClock } from './shared/clock.js';
export type { Gate, Transport, SendResult, SendStatus } from './send/transport.js';
export type { Composed } from './compose/index.js';
export type { ConfirmInfo } from './pipeline/send.js';
export type { Env } from './campaign/env.js';
export type { Logger } from './shared/logger.js';
export type { Journal } from './state/journal-api.js';
export { runBounces, runInbox, type BouncesOptions, type BouncesSummary } from './pipeline/bounces.js';
export { openSuppression, type SuppressionList } from './state/suppression.js';
