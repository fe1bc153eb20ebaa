// What the terminal confirmation of an SMTP send asks about (issue 2: "showing recipient count
// and server"): the messages this invocation will send. On a resume that is what is left of the
// run, not the whole list; a run that will be refused anyway is refused here, before the question
// (send checks it again under the campaign's lock).

import { occurrenceDir } from '../schedule/occurrence.js';
import { journalExists, openJournal } from '../state/journal.js';
import { refuseFinishedRun, type RunChoice } from './resume.js';

export interface ConfirmInfo {
  /** Messages this invocation will send (on a resume: those not sent yet). */
  recipients: number;
  server: string;
  campaign: string;
  /** Set when an unfinished run is resumed: its id, and how many of its recipients are done. */
  resume?: { runId: string; done: number };
  /** Set when --restart leaves an unfinished run whose recipients were reached: they get it again. */
  restartAgain?: { runId: string; sent: number; recipients: number };
}

/**
 * How many messages a send of `total` units would send, and the run it resumes, from the
 * campaign's journal (`campaignDir`; undefined for a dry run or test send, which use none).
 */
export function whatASendWouldDo(
  o: RunChoice & { occurrence?: Date; to?: string; limit?: number },
  name: string,
  total: number,
  campaignDir: string | undefined,
): { count: number; resume?: ConfirmInfo['resume']; restartAgain?: ConfirmInfo['restartAgain'] } {
  let resume: ConfirmInfo['resume'];
  let restartAgain: ConfirmInfo['restartAgain'];
  let left = total;
  const dir = campaignDir && (o.occurrence ? occurrenceDir(campaignDir, o.occurrence.getTime()) : campaignDir);
  if (dir && journalExists(dir)) {
    const peek = openJournal(dir, { readonly: true });
    try {
      const run = refuseFinishedRun(peek, name, o);
      if (run && o.restart && run.state !== 'finished') {
        const t = peek.totals();
        if (t.sent + t.unknown + t.sending > 0) restartAgain = { runId: run.runId, sent: t.sent + t.unknown + t.sending, recipients: t.recipients };
      }
      if (run && !o.restart) {
        const t = peek.totals();
        if (run.state === 'finished') left = t.unknown; // --resend-unknown
        else {
          const done = t.sent + t.failed + (o.resendUnknown ? 0 : t.unknown);
          resume = { runId: run.runId, done };
          left = Math.max(0, total - done);
        }
      }
    } finally {
      peek.close();
    }
  }
  return { count: o.to ? Math.min(o.limit ?? 1, total) : Math.min(o.limit ?? Infinity, left), resume, restartAgain };
}
