// `mailcamp schedule --list`: for each scheduled campaign, its next occurrences and what the
// journal says about the last one that has come. Reads only; safe beside a running scheduler.

import type { Campaign } from '../campaign/types.js';
import { MailcampError } from '../shared/errors.js';
import { campaignFiles } from './campaign-files.js';
import { type OccurrenceState, readOccurrenceState } from './occurrence.js';
import { type Timetable, timetable } from './timetable.js';

export type ListedCampaign =
  | { file: string; ok: true; campaign: Campaign; timetable: Timetable; next: number[]; last?: OccurrenceState }
  | { file: string; ok: false; error: unknown };

export interface ListOptions {
  paths: string[];
  now: number;
  /** How many next occurrences to list. */
  count: number;
  load: (file: string) => Campaign;
  /** The occurrence folder of a campaign (applies --state). */
  dirOf: (c: Campaign, at: number) => string;
}

export function listSchedules(o: ListOptions): ListedCampaign[] {
  return campaignFiles(o.paths).map((f): ListedCampaign => {
    try {
      const c = o.load(f.file);
      if (!c.schedule) throw new MailcampError('INPUT', 'no schedule: key; add one (cron: or at:) to schedule this campaign', { file: c.displayFile });
      const tt = timetable(c.schedule);
      const lastAt = tt.latestAtOrBefore(o.now);
      const last = lastAt === undefined ? undefined : readOccurrenceState(o.dirOf(c, lastAt), lastAt);
      return { file: f.file, ok: true, campaign: c, timetable: tt, next: tt.after(o.now, o.count), last };
    } catch (e) {
      return { file: f.file, ok: false, error: e };
    }
  });
}
