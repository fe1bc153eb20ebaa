// Test helpers for the scheduler: a scheduled project in a temp folder, a runner wired to the
// real pipeline (runSend to the outbox) on a ManualClock, and a way to move that clock.
//
// Why step the clock from wake to wake instead of one clock.advance(week): ManualClock.advance
// moves time before it yields, so a send that does real I/O (the journal, the outbox) would
// read a clock that has already moved on. Stepping to the next sleeper and waiting until every
// runner is asleep again keeps "now" at the instant the runner woke for.

import fs from 'node:fs';
import path from 'node:path';
import { loadCampaign } from '../../src/campaign/load.js';
import { runSend, type SendSummary } from '../../src/pipeline/send.js';
import { occurrenceDirOf, readOccurrenceState } from '../../src/schedule/occurrence.js';
import { type RunnerOptions, type ScheduleEvent, ScheduleRunner } from '../../src/schedule/runner.js';
import type { ManualClock } from '../../src/shared/clock.js';
import { writeFiles } from '../helpers/tmp.js';

export type Logged = ScheduleEvent<SendSummary> & { now: number };

/** A project folder with a template that prints `occurrence`, and a two-row list. */
export function project(dir: string, campaigns: Record<string, string>): string {
  writeFiles(dir, {
    't.hbs': '<p>Hello {{name}}, this is the issue of {{formatDate occurrence "long" timeZone="UTC"}}.</p>\n',
    'r.csv': 'email,name\nada@example.com,Ada\nbob@example.com,Bob\n',
    '.mailcamp/.keep': '',
  });
  for (const [file, schedule] of Object.entries(campaigns)) {
    const name = file.replace(/\.ya?ml$/, '');
    writeFiles(dir, { [file]: `name: ${name}\nfrom: news@example.com\nsubject: "Hi {{name}}"\ntemplate: t.hbs\nrecipients: r.csv\n${schedule}` });
  }
  return dir;
}

export function makeRunner(
  dir: string,
  paths: string[],
  clock: ManualClock,
  log: Logged[],
  extra: Partial<RunnerOptions<SendSummary>> = {},
): { runner: ScheduleRunner<SendSummary>; stop: AbortController } {
  const stop = new AbortController();
  const runner = new ScheduleRunner<SendSummary>({
    paths: paths.map((p) => path.resolve(dir, p)),
    clock,
    signal: stop.signal,
    load: (file) => loadCampaign(file, { cwd: dir, env: {} }),
    stateOf: (c, at) => readOccurrenceState(occurrenceDirOf(c, at), at),
    send: (req) => runSend({ file: req.file, cwd: dir, env: {}, occurrence: new Date(req.at), signal: req.signal, clock }),
    onEvent: (e) => log.push({ ...e, now: clock.now() }),
    watchMs: 0,
    busyRetryMs: 1000,
    failRetryMs: 60_000,
    maxSleepMs: 24 * 3_600_000,
    ...extra,
  });
  return { runner, stop };
}

/** What the clock-stepping helpers need of a runner. */
export interface Drivable {
  idle(): Promise<void>;
  readonly isIdle: boolean;
  nextWake(): number | undefined;
}

/** Waits until every runner is asleep (and stays so for a few turns of the event loop). */
export async function settle(runners: Drivable[]): Promise<void> {
  for (let quiet = 0; quiet < 3; ) {
    await Promise.all(runners.map((r) => r.idle()));
    await new Promise((r) => setImmediate(r));
    quiet = runners.every((r) => r.isIdle) ? quiet + 1 : 0;
  }
}

/** Moves the clock to `end`, stopping at every wake-up and letting the runners finish it. */
export async function runUntil(clock: ManualClock, runners: Drivable[], end: number): Promise<void> {
  for (;;) {
    await settle(runners);
    const wakes = runners.map((r) => r.nextWake()).filter((t): t is number => t !== undefined);
    const next = wakes.length ? Math.min(...wakes) : undefined;
    if (next === undefined || next > end) break;
    await clock.advance(Math.max(0, next - clock.now()));
  }
  await clock.advance(Math.max(0, end - clock.now()));
  await settle(runners);
}

/** The .eml files written for one occurrence (outbox/<name>/<stamp>/). */
export function outboxOf(dir: string, name: string, stamp: string): string[] {
  const d = path.join(dir, 'outbox', name, stamp);
  return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
}
