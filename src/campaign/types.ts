// The validated campaign: what every later stage receives. Paths are absolute; `pos`
// keeps where each key was written, so later stages can name the place of a problem.

import type { RecipientSource } from '../recipients/types.js';
import type { Pos } from './yaml.js';

export interface MailAddress {
  name?: string;
  address: string;
}

export type AttachmentSpec =
  | { kind: 'shared'; path: string; filename?: string; pos: Pos; filenamePos?: Pos }
  | {
      /** A path rendered per recipient; it must stay inside `baseDir` (design.md). */
      kind: 'templated';
      pathTemplate: string;
      baseDir: string;
      filename?: string;
      pos: Pos;
      /** Where `filename:` is, when it is given. */
      filenamePos?: Pos;
    };

export interface RateSpec {
  per_second?: number;
  per_minute?: number;
  per_hour?: number;
}

export interface RetrySpec {
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface ScheduleSpec {
  cron?: string;
  timezone?: string;
  at?: string[];
  missed: 'skip' | 'latest';
  catchUpMs: number;
}

export interface Campaign {
  /** Absolute path of the campaign file, its folder, and the path to show in messages. */
  file: string;
  dir: string;
  displayFile: string;
  name: string;
  from: MailAddress;
  replyTo?: MailAddress;
  /** Handlebars source of the subject. */
  subject: string;
  template: { path: string; kind: 'mjml' | 'handlebars' };
  text?: string;
  recipients: RecipientSource;
  data: Record<string, unknown>;
  attachments: AttachmentSpec[];
  /** Extra header name -> Handlebars source of its value. */
  headers: Record<string, string>;
  unsubscribe?: { url?: string; mailto?: string };
  groupBy?: string;
  bcc: boolean;
  /** Transport URL as written (after ${VAR}); undefined means the outbox default. */
  transport?: string;
  rate?: RateSpec;
  concurrency: number;
  retry: RetrySpec;
  /** When the run pauses itself (src/send/error-budget.ts); undefined: `error_budget: off`. */
  errorBudget?: { failures: number; fraction: boolean; window: number };
  schedule?: ScheduleSpec;
  dkim?: { domain: string; selector: string; privateKey: string };
  /** Extra suppression lists (CSV files with an email column). */
  suppress: string[];
  /** Size cap of one message's attachments together, in bytes. */
  maxAttachmentBytes: number;
  /** Where each top-level key was written. */
  pos: Record<string, Pos>;
}
