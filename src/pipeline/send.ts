// `mailcamp send`, top to bottom like the diagram in design.md:
//   load+validate → select (dedupe, suppression, resume) → render → compose → send → journal → report.
// The whole list is validated before the first connection is opened: a campaign with a bad
// row sends nothing. Then, holding the campaign's lock: connect (TLS and authentication
// failures end here, before the journal changes), start or resume the run and register every
// recipient (resume.ts), stream the list once more and hand each recipient still to be sent
// to the dispatcher, and write the report from the journal, so it is right after a crash too.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Campaign } from '../campaign/types.js';
import { campaignInputs } from '../campaign/inputs.js';
import type { Env } from '../campaign/env.js';
import { checkAddress, reasonForArgument } from '../recipients/address.js';
import { checkReportDestination, reportPaths, writeReportAfterDelivery } from '../report/write-report.js';
import type { Composed } from '../compose/index.js';
import { Dispatcher, type DispatchEvent, type Job } from '../send/dispatcher.js';
import { ErrorBudget } from '../send/error-budget.js';
import { emlName, outboxVerdicts } from '../send/outbox.js';
import { RetryPolicy } from '../send/retry.js';
import { occurrenceDir, occurrenceStamp } from '../schedule/occurrence.js';
import type { Transport } from '../send/transport.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { Diagnostics, formatDiagnostic } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { type Logger, silentLogger } from '../shared/logger.js';
import { fileSignature, fileSize } from '../shared/paths.js';
import { withoutCredentials } from '../shared/secrets.js';
import { campaignStateDir, ensureStateDir, findStateDir } from '../state/folder.js';
import { journalExists, openJournal, type SqliteJournal } from '../state/journal.js';
import { acquireLock, type Lock } from '../state/lock.js';
import { tokenKey } from '../state/token-key.js';
import { openSuppression, suppressionFile } from '../state/suppression.js';
import { type JournalEntry, REFUSED_MARK, type Totals } from '../state/types.js';
import { loadAsFarAsPossible, type Loaded } from './context.js';
import {
  beginRun,
  campaignFileOf,
  iso,
  listEntries,
  refuseFinishedRun,
  refuseOtherCampaign,
  refuseRenamedMidRun,
  type ListedRow,
  listedSkip,
  registerRecipients,
  rowsAddedSince,
  settleVanished,
  stopReason,
} from './resume.js';
import { buildMessage, renderUnit, signed, type Unit, unitForGroup } from './message.js';
import { suppressedBy } from './suppression-lookup.js';
import { type UnitOptions, unitsOf } from './units.js';
import { type PrefetchedList, prefetchList } from '../recipients/prefetch.js';
import { campaignRateLimiter, triedWithinTheHour } from './rate-history.js';
import { type ConfirmInfo, whatASendWouldDo } from './confirm.js';
import { chooseTransport, makeTransport, type SendSpec } from './transport-choice.js';
import { runValidate } from './validate.js';

export type { ConfirmInfo };

export interface SendOptions {
  file: string;
  cwd?: string;
  env?: Env;
  /**
   * A transport URL, as `--transport` takes (overrides the campaign's); or, for a script that
   * embeds mailcamp, an object implementing Transport (send/transport.ts), used as the SMTP
   * transport would be: rate limit, `concurrency`, retries, the journal, and confirmation
   * (`yes` or `confirm`) all apply.
   */
  transport?: string | Transport;
  dryRun?: boolean;
  out?: string;
  limit?: number;
  to?: string;
  report?: string;
  restart?: boolean;
  resendUnknown?: boolean;
  skipInvalid?: boolean;
  state?: string;
  debugSmtp?: boolean;
  /** Asked before anything goes to an SMTP server; false aborts. Undefined: refuse unless `yes`. */
  confirm?: (info: ConfirmInfo) => Promise<boolean>;
  /**
   * Warnings of the validation and notes known before the first message (a resume, a lock
   * taken over), as they come, so that they are read before the confirmation and before a
   * long run. Without it they are in the summary's warnings and notes.
   */
  onNotice?: (line: string) => void;
  yes?: boolean;
  clock?: Clock;
  logger?: Logger;
  signal?: AbortSignal;
  /** Extra trusted CA for SMTP TLS (tests, private CAs). */
  ca?: string | Buffer;
  onProgress?: (p: Progress) => void;
  /** Run id to use for a new run (schedule: the occurrence). */
  runId?: string;
  /** After a signal: how long messages in flight may take before their connections are dropped (default 5 s). */
  graceMs?: number;
  /** What the lock says this process is doing (default `send <file> …`); the scheduler names itself. */
  lockedAs?: string;
  /**
   * Sends one occurrence of a scheduled campaign (schedule, send --occurrence): its own journal
   * and lock in `.mailcamp/<name>/occurrences/<stamp>/`, run id and report name <stamp>, and
   * `occurrence` in templates. See src/schedule/occurrence.ts.
   */
  occurrence?: Date;
  /**
   * Called once, when the run takes its first message to send (before it is built and handed to
   * the transport; not for a run with nothing to send). The CLI tunes V8 for the per-message
   * path then (cli/v8-tuning.ts).
   */
  onSendingStarts?: () => void;
}

export interface Progress {
  done: number;
  total: number;
  event?: DispatchEvent;
}

export interface SendSummary {
  campaign: string;
  runId: string;
  transport: string;
  totals: Totals;
  reportPath: string;
  /** Why the report could not be written (the journal still has every result). */
  reportError?: string;
  csvPath: string;
  outDir?: string;
  dryRun: boolean;
  interrupted: boolean;
  /** Set when the run stopped early because of a fatal transport error. */
  fatal?: MailcampError;
  /** Set when the error budget paused the run: why. */
  paused?: string;
  /** Warnings of the validation, as validate prints them (`file:line: warning: …`). */
  warnings: string[];
  /** Resume notes: unknown recipients held back, etc. */
  notes: string[];
  /** A test send (--to): where the copies went; `totals` counts those copies. */
  testTo?: string;
  /** Group messages sent with members refused for good (counted in `sent`; they make the exit code 1). */
  partlyRefused: number;
  exitCode: number;
}

/** Lists up to this many rows are registered from the validation pass's read (~150 bytes a row). */
const LISTED_IN_MEMORY = 50_000;
/** A list file up to this size (~20,000 rows of the bench's kind) is also walked from that read. */
const UNITS_IN_MEMORY_BYTES = 2 * 1024 * 1024;

export function newRunId(clock: Clock): string {
  const t = new Date(clock.now()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${t}-${crypto.randomBytes(3).toString('hex')}`;
}

export async function runSend(o: SendOptions): Promise<SendSummary> {
  const cwd = o.cwd ?? process.cwd();
  if (o.to !== undefined) {
    const chk = checkAddress(o.to.trim());
    if (!chk.ok) {
      throw new MailcampError('USAGE', `--to ${JSON.stringify(o.to)}: ${reasonForArgument(chk.reason, 'give one address (a test send goes to one)')}`);
    }
    o = { ...o, to: chk.address };
  }

  // 1. Load and validate everything before touching the network or the journal.
  const diag = new Diagnostics();
  // A dry run or --transport does not use the campaign's transport: its ${VAR}s need not be set.
  const transportUnused = !!o.dryRun || o.transport !== undefined;
  // The list is read ahead while the templates compile (the MJML child takes ~0.1 s).
  let ahead: PrefetchedList | undefined;
  try {
    return await sendLoaded(o, diag, await loadAsFarAsPossible(o.file, { env: o.env, cwd, transportUnused }, diag, (c) => (ahead = prefetchList(c.recipients))), () => {
      const list = ahead;
      ahead = undefined;
      return list;
    });
  } finally {
    ahead?.close();
  }
}

/** runSend once the campaign is loaded; `readAhead` gives the list read ahead, once. */
async function sendLoaded(o: SendOptions, diag: Diagnostics, loaded: Partial<Loaded>, readAhead: () => PrefetchedList | undefined): Promise<SendSummary> {
  const clock = o.clock ?? systemClock;
  const logger = o.logger ?? silentLogger;
  const signal = o.signal ?? new AbortController().signal;
  const cwd = o.cwd ?? process.cwd();
  const transportUnused = !!o.dryRun || o.transport !== undefined;
  if (!loaded.campaign || !loaded.prepared) {
    // What validate reports, the list's rows included (they are not read without templates).
    (await runValidate({ file: o.file, cwd, env: o.env, state: o.state, skipInvalid: o.skipInvalid, transportUnused })).diagnostics.throwIfErrors();
    diag.throwIfErrors();
    throw new Error('bug: campaign not loaded but no error recorded');
  }
  const c = loaded.campaign;
  const prepared = loaded.prepared;
  const chosen = chooseTransport(o.transport, c, cwd, o.env);
  const transportUrl = chosen.transportUrl;
  let spec: SendSpec = chosen.spec; // a dry run writes to the outbox instead
  const stateDir = findStateDir(c.dir, o.state ? path.resolve(cwd, o.state) : undefined);
  const throwaway = !!(o.dryRun || o.to);
  const suppression = throwaway && !fs.existsSync(suppressionFile(stateDir)) ? undefined : openSuppression(ensureStateDir(stateDir));
  try {
    const isSuppressed = await suppressedBy(c, suppression, diag);
    const runIdForCheck = o.runId ?? 'validate';
    let total = 0;
    // A list of up to LISTED_IN_MEMORY rows keeps what registration needs from this pass, which
    // then need not read the list once more (~0.1 s of a 10,000-row send, issue 6).
    // The list's signature from before this read: a row added since is found at the end.
    const ahead = readAhead();
    const listSignature = ahead ? ahead.signature : fileSignature(c.recipients.file);
    let listed: ListedRow[] | undefined = [];
    // The units too when the file is small (unitsToWalk): they hold every row's values, ~2 KB a
    // row with what the heap keeps around them (a 100,000-row send peaked at ~300 MB instead of
    // ~200 while the first 50,000 were kept, before they were dropped).
    let units: Unit[] | undefined = fileSize(c.recipients.file) <= UNITS_IN_MEMORY_BYTES ? [] : undefined;
    const keep = (r: ListedRow) => {
      if (listed && listed.push(r) > LISTED_IN_MEMORY) listed = units = undefined;
    };
    for await (const u of unitsOf(c, diag, { isSuppressed, skipInvalid: o.skipInvalid, onSkip: listedSkip(keep), reader: ahead?.take(diag) })) {
      if (signal.aborted) throw new MailcampError('INTERRUPTED', 'interrupted while checking the recipients; nothing was sent');
      try {
        renderUnit(prepared, u, { runId: runIdForCheck, now: new Date(clock.now()), occurrence: o.occurrence, check: true });
      } catch (e) {
        diag.capture(e);
      }
      keep({ key: u.key, row: u.row, email: u.email });
      units?.push(u);
      total++;
    }
    diag.throwIfErrors();
    const warnings: string[] = [];
    const notice = (line: string, into: string[]) => (o.onNotice ? o.onNotice(line) : into.push(line));
    for (const w of diag.warnings) notice(formatDiagnostic(w), warnings);

    // The report is written after the messages went out: its folders and files must be usable now.
    checkReportDestination(o.report ? path.resolve(cwd, o.report) : undefined, path.join(c.dir, 'reports', c.name), campaignInputs(c));

    // 2. Transport, and the user's go-ahead for real SMTP.
    if (o.dryRun) spec = { kind: 'outbox', dir: o.out ? path.resolve(cwd, o.out) : undefined };
    const outDir =
      spec.kind === 'outbox' ? (spec.dir ?? (o.out ? path.resolve(cwd, o.out) : path.join(c.dir, 'outbox', c.name, o.occurrence ? occurrenceStamp(o.occurrence.getTime()) : ''))) : undefined;
    if (spec.kind !== 'outbox' && !o.yes) {
      const server = spec.kind === 'smtp' ? `${spec.host}:${spec.port}` : spec.transport.description;
      if (!o.confirm) {
        const count = o.to ? Math.min(o.limit ?? 1, total) : Math.min(o.limit ?? Infinity, total);
        throw new MailcampError('USAGE', `refusing to send ${count} message(s) to ${server} without confirmation: stdin is not a terminal; pass --yes`);
      }
      const { count, resume, restartAgain } = whatASendWouldDo(o, c.name, total, throwaway ? undefined : campaignStateDir(stateDir, c.name));
      if (!(await o.confirm({ recipients: count, server, campaign: c.name, resume, restartAgain }))) {
        throw new MailcampError('USAGE', 'not sent: confirmation declined');
      }
    }

    // 3. State: the journal (a throwaway one for dry runs and test sends) and its lock.
    let journalDir: string;
    let lock: Lock | undefined;
    if (throwaway) journalDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-dry-'));
    else {
      journalDir = campaignStateDir(ensureStateDir(stateDir), c.name);
      if (o.occurrence) journalDir = occurrenceDir(journalDir, o.occurrence.getTime());
      lock = acquireLock(journalDir, o.lockedAs ?? `send ${c.displayFile}${o.occurrence ? ` --occurrence ${o.occurrence.toISOString()}` : ''}`);
      if (!o.occurrence && !journalExists(journalDir)) {
        try {
          refuseRenamedMidRun(stateDir, c, o);
        } catch (e) {
          lock.release();
          throw e;
        }
      }
    }
    const journal = openJournal(journalDir, { clock });
    try {
      return await sendWithJournal({
        stateDir,
        tokenKey: tokenKey(stateDir, { create: !throwaway }),
        notice,
        occurrenceDir: o.occurrence && !throwaway ? journalDir : undefined,
        o,
        c,
        prepared,
        journal,
        spec,
        transportUrl,
        outDir,
        clock,
        logger,
        signal,
        cwd,
        total,
        warnings,
        isSuppressed,
        listed: listed && { rows: listed, units, signature: listSignature },
        notes:
          lock?.tookOverStaleFrom === undefined
            ? []
            : [lock.tookOverStaleFrom ? `took over the lock of process ${lock.tookOverStaleFrom}, which is no longer running` : 'took over a lock file left unreadable by a crash'],
      });
    } finally {
      journal.close();
      lock?.release();
      if (throwaway) fs.rmSync(journalDir, { recursive: true, force: true });
    }
  } finally {
    suppression?.close();
  }
}

/**
 * The journal entry of each unit of the walk. The walk goes in row order, as the journal's
 * entries() does a page at a time: one query per page instead of one per recipient (a tenth of
 * the main thread's time per message in a fast run went to these lookups, issue 6). A unit
 * whose row does not match (the list edited since registration) is looked up by its key. The
 * pages are read ahead of the walk, where no entry changes during the run: this process holds
 * the campaign's lock, and submits a unit only after reading its entry.
 */
function entriesInListOrder(journal: SqliteJournal): (u: Unit) => JournalEntry | undefined {
  const it = journal.entries();
  let cur = it.next();
  return (u) => {
    while (!cur.done && cur.value.row < u.row) cur = it.next();
    if (!cur.done && cur.value.row === u.row && cur.value.key === u.key) {
      const e = cur.value;
      cur = it.next();
      return e;
    }
    return journal.get(u.key);
  };
}

/** How long the walk of a list read for validation goes on without a look at the file (ms). */
const WALK_CHECK_MS = 5;

/**
 * The units the send walks. A small list's are the validation pass's (`listed`): reading and
 * parsing the CSV a second time was ~5% of a 10,000-message send (issue 6). They stand for the
 * file for as long as it is unchanged, which is checked before the first unit and then before
 * the next unit once WALK_CHECK_MS have passed (the walk waits for free slots, so that is
 * every unit in a slow run, about every 20 in a fast one). Once it has changed, the rest of the
 * walk reads the file as it is now, as a long list's does, less the units walked already: a
 * row removed mid-run is not sent (the run skips it at the end), a row added is found, and a
 * list saved broken stops the walk, as when every list was read again. Suppression is looked
 * up again for every unit, as a read of the file does.
 */
async function* unitsToWalk(c: Campaign, listed: Ctx['listed'], diag: Diagnostics, o: UnitOptions): AsyncGenerator<Unit> {
  if (!listed?.units) {
    yield* unitsOf(c, diag, o);
    return;
  }
  const units = listed.units;
  let looked = -Infinity;
  for (let i = 0; i < units.length; i++) {
    const now = performance.now();
    if (now - looked >= WALK_CHECK_MS) {
      looked = now;
      if (fileSignature(c.recipients.file) !== listed.signature) {
        const walked = new Set(units.slice(0, i).map((u) => u.key));
        for await (const u of unitsOf(c, diag, o)) if (!walked.has(u.key)) yield u;
        return;
      }
    }
    const u = notSuppressed(units[i], o.isSuppressed);
    if (u) yield u;
  }
}

/**
 * `u` less its members suppressed since the validation pass read them (`bounces` or `suppress
 * add` during the run: the lookup is live), as a read of the file would give it; undefined when
 * none is left. The run skips those at the end, with the reason.
 */
function notSuppressed(u: Unit, isSuppressed: UnitOptions['isSuppressed']): Unit | undefined {
  if (!isSuppressed) return u;
  if (u.groupValue === undefined) return isSuppressed(u.key) === undefined ? u : undefined;
  const members = u.members.filter((m) => isSuppressed(m.key) === undefined);
  if (members.length === u.members.length) return u;
  return members.length ? unitForGroup(u.groupValue, members) : undefined;
}

interface Ctx {
  o: SendOptions;
  c: Campaign;
  prepared: Loaded['prepared'];
  journal: SqliteJournal;
  spec: SendSpec;
  transportUrl: string;
  outDir?: string;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
  cwd: string;
  total: number;
  warnings: string[];
  isSuppressed: (key: string) => string | undefined;
  /**
   * A short list as the validation pass read it, and the list's signature from before: its rows
   * (skipped ones too) for registration, its units for the walk (unitsToWalk).
   */
  listed?: { rows: ListedRow[]; units?: Unit[]; signature: string | undefined };
  /** Notes from before the run (a stale lock taken over). */
  notes: string[];
  /** The secret behind X-Mailcamp-Recipient (state/token-key.ts). */
  tokenKey: Buffer;
  /** The state folder (.mailcamp/). */
  stateDir: string;
  /** Says a line now (o.onNotice), or keeps it in `into` for the summary. */
  notice: (line: string, into: string[]) => void;
  /** The journal's folder when it is a scheduled occurrence's (the rate limit counts its siblings). */
  occurrenceDir?: string;
}

async function sendWithJournal(x: Ctx): Promise<SendSummary> {
  const { o, c, journal, clock, logger, signal } = x;
  const notes: string[] = [];
  for (const n of x.notes) x.notice(n, notes);
  const shownTransport = x.spec.kind === 'outbox' ? `outbox:${x.outDir}` : withoutCredentials(x.transportUrl);

  // A journal of another campaign file of the same name is refused; a finished run too (unless
  // --restart, or --resend-unknown with unknowns left).
  if (!o.dryRun && !o.to) refuseOtherCampaign(journal.currentRun(), c, x.stateDir);
  const current = refuseFinishedRun(journal, c.name, o);

  // Connect before touching the run: a refused certificate or password changes nothing.
  const transport = makeTransport(x.spec, { c, outDir: x.outDir, logger, debug: o.debugSmtp, ca: o.ca, clock });
  try {
    await transport.open(signal);
  } catch (e) {
    await transport.close().catch(() => {});
    if (signal.aborted && !(e instanceof MailcampError)) throw new MailcampError('INTERRUPTED', 'interrupted while connecting; nothing was sent');
    throw e;
  }

  // Start or resume the run, then register every recipient before the first message goes out.
  // What this campaign tried within the hour counts towards its rate limit, a --restart too
  // (read before a new run drops the old run's entries).
  const recentTries = c.rate && x.spec.kind !== 'outbox' ? triedWithinTheHour(journal, x.occurrenceDir, clock.now()) : [];
  const begun = beginRun(journal, current, {
    ...o,
    transport: shownTransport,
    campaignFile: o.dryRun || o.to ? undefined : campaignFileOf(c),
    // The outbox can tell whether a message left `sending` by a crash was written: its file.
    // Its own outbox, also after the project was moved (the recorded folder is gone then).
    staleVerdict: x.spec.kind === 'outbox' && !o.dryRun && !o.to && ownOutbox(current?.transport, shownTransport) ? outboxVerdicts(x.outDir!, c.name) : undefined,
    // An occurrence's first run is named by its stamp; a --restart of it is a new run in the same
    // journal, so it gets a suffix (run ids are unique; its report does not replace the first).
    newRunId: () =>
      o.runId ?? (o.occurrence ? occurrenceStamp(o.occurrence.getTime()) + (current ? `-${crypto.randomBytes(3).toString('hex')}` : '') : newRunId(clock)),
  });
  for (const n of begun.notes) x.notice(n, notes);
  if (begun.abandoned) logger.warn(begun.abandoned); // now, before anything goes out
  const runId = begun.run.runId;
  // --resend-unknown of a finished run sends its unknown ones, and only those (as its refusal
  // said): rows added to the list since are not registered into it.
  const onlyUnknown = !!o.resendUnknown && !o.restart && current?.state === 'finished';
  // (Registered from the validation pass's read: the list as it was then. A row added since is
  // found at the end as one added while the run went on.)
  const listAtRegistration = x.listed ? x.listed.signature : fileSignature(c.recipients.file);
  if (!onlyUnknown) await registerRecipients(journal, c, runId, { isSuppressed: x.isSuppressed, skipInvalid: o.skipInvalid, signal, tokenKey: x.tokenKey }, x.listed?.rows);
  const before = journal.totals();

  let done = before.sent + before.failed + (o.resendUnknown ? 0 : before.unknown);
  // SMTP: `concurrency` connections, each with a message under way and one more waiting behind
  // it (smtp-session.ts); the outbox writes files.
  const concurrency = x.spec.kind !== 'outbox' ? 2 * c.concurrency : Math.max(c.concurrency, 8);
  // Under a rate limit a message may wait long for its turn (the outbox has none).
  const paced = !!c.rate && x.spec.kind !== 'outbox';
  const dispatcher = new Dispatcher({
    transport,
    journal,
    concurrency,
    rate: paced ? campaignRateLimiter(c.rate!, recentTries, clock, logger) : undefined,
    retry: new RetryPolicy(c.retry),
    clock,
    signal,
    budget: c.errorBudget && !o.to ? new ErrorBudget(c.errorBudget) : undefined,
    graceMs: o.graceMs,
    // Under a rate limit a message may wait long for its turn: marked when it starts, not ahead.
    // A longer line means fewer, larger commits of marks (each commit took ~90 µs of the main
    // thread and an fdatasync): 3 x concurrency gave batches of ~5 and ~1,700 commits for
    // 10,000 messages; 8 x gives batches of ~30 (send of 10,000: 3.54 -> 3.30 s, issue 6). The
    // price: after a reboot, up to ~10 x concurrency `sending` entries become `unknown`.
    markAhead: paced ? 0 : Math.min(8 * c.concurrency, 128),
    // As many built ahead as can be in flight; not under a rate limit, where a message built
    // ahead could wait long enough for its Date to be stale.
    prebuild: paced ? 0 : concurrency,
    onEvent: (event) => {
      if (event.outcome !== 'deferred') done++;
      o.onProgress?.({ done, total: x.total, event });
    },
    onWait: (until, n) =>
      logger.info(`waiting until ${iso(until)} to retry ${n} deferred recipient(s) (Ctrl-C stops; the next send retries them)`),
  });
  let submitted = 0;
  const held: JournalEntry[] = [];
  let heldCount = 0;
  let limited = false;
  let walked = false;
  const walkDiag = new Diagnostics(1);

  try {
    // Its problems (the CSV edited into a broken state mid-run) end the walk early: kept, so
    // that the rest is not taken for rows removed from the list.
    const units = unitsToWalk(c, x.listed, walkDiag, { isSuppressed: x.isSuppressed, skipInvalid: o.skipInvalid });
    const entryOf = entriesInListOrder(journal);
    for await (const u of units) {
      if (dispatcher.stopped) break;
      const entry = entryOf(u);
      // Not registered: a row added to the CSV after this run began (see rowsAddedSince below).
      if (!entry || entry.status === 'sent' || entry.status === 'failed' || entry.status === 'skipped') continue;
      if (entry.status === 'unknown' && !o.resendUnknown) {
        if (heldCount++ < 10) held.push(entry);
        continue;
      }
      if (o.limit !== undefined && submitted >= o.limit) {
        limited = true;
        break;
      }
      if (o.to && submitted >= (o.limit ?? 1)) {
        limited = true;
        break;
      }
      if (submitted++ === 0) o.onSendingStarts?.();
      const build = async (): Promise<Composed> => {
        const m = await signed(x.prepared, buildMessage(x.prepared, u, { runId, now: new Date(clock.now()), occurrence: o.occurrence, overrideTo: o.to, tokenKey: x.tokenKey, messageId: o.to ? undefined : entry.messageId }));
        // The outbox's file name (SMTP has no use for one). A test copy, or a dry run's render in the
        // outbox's own folder, never replaces a delivered file.
        if (x.spec.kind !== 'smtp') m.label = (o.to ? 'test-' : o.dryRun && o.out === undefined ? 'dry-run-' : '') + emlName(u.row, u.key);
        return m;
      };
      const job: Job = { key: u.key, row: u.row, email: o.to ?? u.email, build, attempts: entry.attempts, done: entry.delivered, pending: entry.status === 'pending' };
      if (entry.status === 'deferred' && entry.nextAttemptAt !== undefined && entry.nextAttemptAt > clock.now()) {
        dispatcher.later(job, entry.nextAttemptAt); // retried when due, without holding up the rest
        continue;
      }
      if (!(await dispatcher.submit(job))) break;
    }
    walked = !dispatcher.stopped && !limited;
    await dispatcher.drain();
  } catch (e) {
    dispatcher.stopRun();
    await dispatcher.drain().catch(() => {});
    throw e;
  } finally {
    await transport.close().catch(() => {});
    await journal.flush().catch(() => {});
  }
  if (heldCount) {
    notes.push(
      `${heldCount} recipient(s) with delivery unknown were not sent again: ${listEntries(held, heldCount)}; ` +
        'check with the server, then send with --resend-unknown to send them',
    );
  }

  // The whole list was walked and every message settled: a recipient still waiting is one the
  // list no longer yields (its row removed, or suppressed since the run began). Without this
  // the run could never finish.
  if (walked && !dispatcher.stopped && !o.to) {
    const v = await settleVanished(journal, c, x.isSuppressed, walkDiag, o.skipInvalid);
    if (v.skipped.length) notes.push(`${v.skipped.length} recipient(s) registered by this run are no longer to be sent, now skipped: ${listEntries(v.skipped, v.skipped.length)}`);
    if (v.unreadable) notes.push(`the list has a problem now (${v.unreadable}); ${v.stillListed} recipient(s) not reached stay pending for the next send`);
    else if (v.stillListed) notes.push(`${v.stillListed} recipient(s) not reached stay pending: the list changed while it was read; the next send takes them`);
  }

  const fatal = dispatcher.fatal;
  const paused = dispatcher.paused;
  const interrupted = signal.aborted && !fatal && !paused;
  const totals = journal.totals();
  const unfinished = totals.pending + totals.sending + totals.deferred;
  const reason = stopReason({ fatal, paused, signal });
  if (reason) journal.endRun('interrupted', reason);
  // A finished run is refused by the next send, so it is marked finished only once its report
  // is written: a crash while the report is written leaves the run to resume, with nothing
  // left to send, and that send writes the report.
  // Rows added to the list (or an address corrected in place) after registration are not sent
  // by this run; it stays unfinished, so that the next send registers and sends them (a
  // finished run would be refused, and they would never go out).
  let waiting = 0;
  if (!reason && !limited && unfinished === 0 && !o.to && !onlyUnknown && walked && (listAtRegistration === undefined || listAtRegistration !== fileSignature(c.recipients.file))) {
    const added = await rowsAddedSince(journal, c, x.isSuppressed, o.skipInvalid);
    waiting = added.count;
    if (waiting) {
      notes.push(`${waiting} row(s) were added to the list while this run went on, not sent yet: ${listEntries(added.shown, waiting)}; run send again to send them (the run stays unfinished until then)`);
    }
  }
  const finishing = !reason && !limited && unfinished === 0 && !o.to && waiting === 0;
  const finishedAt = clock.now();
  if (limited && !o.to && !reason) notes.push(`stopped after ${submitted} message(s) (--limit); run send again to continue`);
  if (o.to && submitted === 0 && !reason) notes.push('no test message: the list has no row to render one for (every row is suppressed or skipped)');

  // Report: built from the journal.
  const defaultReport = path.join(c.dir, 'reports', c.name, `${o.dryRun ? 'dry-run-' : o.to ? 'test-' : ''}${runId}.json`);
  const { json: reportPath, csv: csvPath } = reportPaths(o.report ? path.resolve(x.cwd, o.report) : defaultReport);
  let finalRun = finishing ? { ...journal.currentRun()!, state: 'finished' as const, finishedAt } : journal.currentRun()!;
  // A test send's report and summary are about the copies that went to --to, not about the
  // rows they were rendered for (which were not mailed, and are not "not yet sent" either).
  let entries: Iterable<JournalEntry> = journal.entries();
  let shownTotals = totals;
  if (o.to) {
    // (A throwaway journal holds the whole list as pending: only the few copies tried are read.)
    const tried = [...journal.entries(['sending', 'sent', 'failed', 'deferred', 'unknown'])].map((e) => ({ ...e, email: o.to! }));
    entries = tried;
    shownTotals = { recipients: tried.length, pending: 0, sending: 0, sent: 0, failed: 0, deferred: 0, unknown: 0, skipped: 0 };
    for (const e of tried) shownTotals[e.status]++;
    if (!reason) finalRun = { ...finalRun, state: 'finished', finishedAt };
  }
  const reportError = await writeReportAfterDelivery({
    jsonPath: reportPath,
    csvPath,
    campaign: c.name,
    run: finalRun,
    transport: shownTransport,
    entries,
    totals: shownTotals,
  });
  if (!reportError) logger.debug(`report written to ${reportPath}`);
  if (finishing) journal.endRun('finished', undefined, finishedAt);

  // A group message that went out with members refused for good (5yz) is `sent`, but not
  // everyone got it: said, and exit code 1 (design.md: 0 is "everything delivered").
  const partial = c.groupBy && !o.to ? journal.partlyRefused() : [];
  if (partial.length) {
    const shown = partial.slice(0, 10).map((e) => `line ${e.row} (${e.email}): ${e.response!.slice(e.response!.indexOf(REFUSED_MARK) + 2)}`);
    notes.push(`${partial.length} group message(s) went out with members refused for good: ${shown.join('; ')}${partial.length > 10 ? `; … and ${partial.length - 10} more (mailcamp status --all)` : ''}`);
  }
  // A test send (--to) goes to one address, and --limit N sends N: the rows they leave pending
  // were not asked for this time, so they do not make the exit code 1.
  const bad = totals.failed + totals.deferred + totals.unknown + totals.sending + (o.to || limited ? 0 : totals.pending + waiting) + partial.length;
  const exitCode = fatal || paused ? 3 : interrupted ? 130 : bad > 0 || reportError ? 1 : 0;
  return {
    campaign: c.name,
    runId,
    transport: shownTransport,
    totals: shownTotals,
    testTo: o.to,
    partlyRefused: partial.length,
    reportPath,
    csvPath,
    reportError,
    outDir: x.outDir,
    dryRun: !!o.dryRun,
    interrupted,
    fatal,
    paused,
    warnings: x.warnings,
    notes,
    exitCode,
  };
}

/** Whether the run recorded as written to `recorded` wrote where `now` writes: the same folder, or a moved one. */
function ownOutbox(recorded: string | undefined, now: string): boolean {
  if (!recorded?.startsWith('outbox:')) return false;
  return recorded === now || !fs.existsSync(recorded.slice('outbox:'.length));
}
