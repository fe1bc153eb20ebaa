// The one-line human summary of a run's totals, printed by `send` and `status` and kept
// wording-stable so users can grep logs for it. Pending and sending only appear when non-zero:
// they exist only in an interrupted or running run, where they explain why the sum falls short.

import type { Totals } from '../state/types.js';

/** `sent 98, failed 1, deferred 0, unknown 0, skipped 1 of 100 recipients` */
export function summarize(totals: Totals): string {
  const parts = [
    `sent ${totals.sent}`,
    `failed ${totals.failed}`,
    `deferred ${totals.deferred}`,
    `unknown ${totals.unknown}`,
    `skipped ${totals.skipped}`,
  ];
  if (totals.pending) parts.push(`pending ${totals.pending}`);
  if (totals.sending) parts.push(`sending ${totals.sending}`);
  const noun = totals.recipients === 1 ? 'recipient' : 'recipients';
  return `${parts.join(', ')} of ${totals.recipients} ${noun}`;
}
