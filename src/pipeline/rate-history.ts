// The campaign's `rate:` across invocations. A rate limit is a provider's quota: it holds for
// the campaign, not for one process. So the limiter of a send starts with what the campaign
// tried within the last hour: its run before a resume, a `--limit` batch or a `--restart` (the
// journal, read before a new run drops the old entries), and its other scheduled occurrences.

import fs from 'node:fs';
import path from 'node:path';
import type { Campaign } from '../campaign/types.js';
import { OCCURRENCES_DIR, occurrenceStamp } from '../schedule/occurrence.js';
import { RateLimiter } from '../send/rate-limit.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { journalExists, openJournal, type SqliteJournal } from '../state/journal.js';
import { iso } from './resume.js';

/** How much later than its grant a message may reach the server (rate-limit.ts, slackMs). */
const RATE_SLACK_MS = 25;
const HOUR_MS = 3_600_000;

/**
 * When the campaign's messages were tried within the hour: those of `journal`, and, for an
 * occurrence (`occurrenceDir`), those of its other occurrences of the last day (one of them
 * may still have been sending within the hour).
 */
export function triedWithinTheHour(journal: SqliteJournal, occurrenceDir: string | undefined, now: number): number[] {
  const out = journal.triedSince(now - HOUR_MS);
  if (!occurrenceDir) return out;
  const dir = path.dirname(occurrenceDir); // .mailcamp/<name>/occurrences/
  if (path.basename(dir) !== OCCURRENCES_DIR) return out;
  const since = occurrenceStamp(now - 24 * HOUR_MS);
  let stamps: string[];
  try {
    stamps = fs.readdirSync(dir).filter((s) => /^\d{8}T\d{6}Z$/.test(s) && s >= since);
  } catch {
    return out;
  }
  for (const s of stamps) {
    const d = path.join(dir, s);
    if (d === occurrenceDir || !journalExists(d)) continue;
    const j = openJournal(d, { readonly: true });
    try {
      out.push(...j.triedSince(now - HOUR_MS));
    } finally {
      j.close();
    }
  }
  return out;
}

/** The campaign's rate limiter, counting `tried` (triedWithinTheHour); a long wait is said. */
export function campaignRateLimiter(rate: NonNullable<Campaign['rate']>, tried: number[], clock: Clock, logger: Logger): RateLimiter {
  const limiter = new RateLimiter(rate, clock, RATE_SLACK_MS, (until) => logger.info(`rate limit reached: next message at ${iso(until)}`));
  limiter.seed(tried);
  return limiter;
}
