// The suppression list: addresses that must not be mailed again (hard bounces, unsubscribes,
// complaints, manual entries), shared by every campaign and mailbox file that uses the same
// state folder (design.md: `.mailcamp/suppression`). `receive/` writes it, `recipients/`
// reads it once per CSV row, and they meet only here (style.md).
//
// SQLite (WAL, synchronous=FULL; see sqlite.ts) because a `bounces` run may write while a
// `send` reads, each add must survive a crash as soon as it returns (an unsubscribe that is
// lost is mail the person asked not to get), and `has` must be a prepared point lookup: it
// runs for up to a million rows per send.
//
// Addresses are keys after suppressionKey(): trimmed, lower-cased (mail systems treat local
// parts case-insensitively in practice, although RFC 5321 §2.4 allows otherwise; suppressing
// too much is the safe side) and with an internationalized domain in its ASCII (punycode)
// form, the form bounces carry (RFC 5890), so `user@bücher.example` and
// `User@xn--bcher-kva.example` are one entry.
//
// Soft bounces (RFC 3463 class 4.x.x) do not suppress by themselves; they are counted per
// address in a separate table so the receive stage can suppress after repeated ones.

import path from 'node:path';
import { domainToASCII } from 'node:url';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import { MailcampError } from '../shared/errors.js';
import { printable } from '../shared/printable.js';
import { SUPPRESSION_FILE } from './folder.js';
import { openDatabase, type Db } from './sqlite.js';

export type SuppressionKind = 'hard' | 'soft' | 'unsubscribe' | 'complaint' | 'manual';

const KINDS: ReadonlySet<string> = new Set<SuppressionKind>(['hard', 'soft', 'unsubscribe', 'complaint', 'manual']);
const SCHEMA_VERSION = 1;
const PAGE_SIZE = 500;

export interface SuppressionInput {
  address: string;
  reason: string;
  /** Where it came from: a mailbox file, a campaign, `manual` ... */
  source?: string;
  /** Default `manual`. */
  kind?: SuppressionKind;
  /** Epoch ms; default now. */
  at?: number;
}

export interface SuppressionEntry {
  /** As stored: see suppressionKey(). */
  address: string;
  reason: string;
  source?: string;
  kind: SuppressionKind;
  /** Epoch ms of the last add. */
  at: number;
}

export interface SuppressionList {
  readonly file: string;
  /** Adds or, for an address already there, updates reason, source, kind and date. Durable on return. */
  add(entry: SuppressionInput): void;
  /** Adds many in one transaction (an import); returns how many were given. */
  addAll(entries: Iterable<SuppressionInput>): number;
  /** True when it was there. Also forgets the address's soft-bounce count. */
  remove(address: string): boolean;
  get(address: string): SuppressionEntry | undefined;
  has(address: string): boolean;
  /** Every entry, ordered by address; streams (pages through the table). */
  list(): IterableIterator<SuppressionEntry>;
  count(): number;
  /** Changes when another connection (a `bounces` or `suppress` run) has written since the last call's value. */
  version(): number;
  /** Counts one more soft bounce for the address; returns the new count. */
  recordSoftBounce(address: string, source: string): number;
  /** Soft bounces counted for the address so far. */
  softBounces(address: string): number;
  close(): void;
}

export interface SuppressionOptions {
  clock?: Clock;
}

interface Row {
  address: string;
  reason: string;
  source: string | null;
  kind: SuppressionKind;
  at: number;
}

/** The form an address is stored and looked up in. */
export function suppressionKey(address: string): string {
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf('@');
  if (at < 0) return a;
  const domain = a.slice(at + 1);
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(domain)) return a;
  const ascii = domainToASCII(domain);
  return ascii ? `${a.slice(0, at)}@${ascii}` : a;
}

export function suppressionFile(stateDir: string): string {
  return path.join(stateDir, SUPPRESSION_FILE);
}

function migrate(db: Db): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS suppressed (
      address TEXT PRIMARY KEY,
      reason  TEXT NOT NULL,
      source  TEXT,
      kind    TEXT NOT NULL,
      at      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS soft_bounces (
      address     TEXT PRIMARY KEY,
      count       INTEGER NOT NULL,
      first_at    INTEGER NOT NULL,
      last_at     INTEGER NOT NULL,
      last_source TEXT
    ) WITHOUT ROWID;
  `);
}

export function openSuppression(stateDir: string, opts: SuppressionOptions = {}): SuppressionList {
  const file = suppressionFile(stateDir);
  const clock = opts.clock ?? systemClock;
  const db = openDatabase(file, { version: SCHEMA_VERSION, migrate, kind: { table: 'suppressed', what: 'suppression list' } });

  const st = {
    upsert: db.prepare(
      `INSERT INTO suppressed (address, reason, source, kind, at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, source = excluded.source,
         kind = excluded.kind, at = excluded.at`,
    ),
    remove: db.prepare('DELETE FROM suppressed WHERE address = ?'),
    removeSoft: db.prepare('DELETE FROM soft_bounces WHERE address = ?'),
    get: db.prepare('SELECT * FROM suppressed WHERE address = ?'),
    has: db.prepare('SELECT 1 FROM suppressed WHERE address = ?').pluck(),
    page: db.prepare(`SELECT * FROM suppressed WHERE address > ? ORDER BY address LIMIT ${PAGE_SIZE}`),
    count: db.prepare('SELECT COUNT(*) FROM suppressed').pluck(),
    soft: db
      .prepare(
        `INSERT INTO soft_bounces (address, count, first_at, last_at, last_source) VALUES (?, 1, ?, ?, ?)
         ON CONFLICT (address) DO UPDATE SET
           -- the same message seen again (a run that died before recording it) counts once
           count = count + (CASE WHEN last_source IS excluded.last_source THEN 0 ELSE 1 END),
           last_at = excluded.last_at, last_source = excluded.last_source
         RETURNING count`,
      )
      .pluck(),
    softCount: db.prepare('SELECT count FROM soft_bounces WHERE address = ?').pluck(),
  };

  let closed = false;
  const usable = () => {
    if (closed) throw new Error('suppression list: used after close()');
  };

  const addOne = (e: SuppressionInput) => {
    const address = suppressionKey(e.address ?? '');
    if (!address) throw new MailcampError('INPUT', 'an empty address cannot be suppressed', { file });
    const kind = e.kind ?? 'manual';
    if (!KINDS.has(kind)) throw new MailcampError('INPUT', `unknown suppression kind '${kind}'`, { file });
    // One line per address in `suppress list` (tab-separated).
    st.upsert.run(address, printable(e.reason), e.source == null ? null : printable(e.source), kind, e.at ?? clock.now());
  };
  const addMany = db.transaction((entries: Iterable<SuppressionInput>) => {
    let n = 0;
    for (const e of entries) {
      addOne(e);
      n++;
    }
    return n;
  });
  const removeBoth = db.transaction((key: string) => {
    st.removeSoft.run(key);
    return st.remove.run(key).changes > 0;
  });

  return {
    file,
    add(e) {
      usable();
      addOne(e);
    },
    addAll(entries) {
      usable();
      return addMany.immediate(entries);
    },
    remove(address) {
      usable();
      return removeBoth.immediate(suppressionKey(address));
    },
    get(address) {
      usable();
      const r = st.get.get(suppressionKey(address)) as Row | undefined;
      return r && toEntry(r);
    },
    has(address) {
      usable();
      return st.has.get(suppressionKey(address)) !== undefined;
    },
    *list() {
      // Pages rather than one open cursor: a cursor would lock this connection against
      // writes for as long as the caller takes to walk the list.
      let after = '';
      for (;;) {
        usable();
        const page = (st.page.all(after) as Row[]).map(toEntry);
        for (const e of page) yield e;
        if (page.length < PAGE_SIZE) return;
        after = page[page.length - 1].address;
      }
    },
    count() {
      usable();
      return st.count.get() as number;
    },
    version() {
      usable();
      return db.pragma('data_version', { simple: true }) as number;
    },
    recordSoftBounce(address, source) {
      usable();
      const key = suppressionKey(address);
      if (!key) throw new MailcampError('INPUT', 'an empty address cannot be counted', { file });
      const now = clock.now();
      return st.soft.get(key, now, now, source) as number;
    },
    softBounces(address) {
      usable();
      return (st.softCount.get(suppressionKey(address)) as number | undefined) ?? 0;
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

function toEntry(r: Row): SuppressionEntry {
  const e: SuppressionEntry = { address: r.address, reason: r.reason, kind: r.kind, at: r.at };
  if (r.source !== null) e.source = r.source;
  return e;
}
