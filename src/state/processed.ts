// Which received messages the receive stage has already learned from, so a mailbox read with
// `after: keep` (the default) is not counted twice on the next run. A message is known by
// its place in its mailbox (IMAP UIDVALIDITY:UID, POP3 UIDL, a file name) and, across
// mailboxes, new UIDs and re-deliveries, by a fingerprint of what it says (pipeline/bounces.ts:
// its Message-ID, Date, kind and recipients), so that a report without a Message-ID is known
// again and a different report that reuses one is not taken for a copy.
//
// Lives in `.mailcamp/suppression-processed`, beside the suppression list it feeds: its own
// SQLite file (WAL, synchronous=FULL, see sqlite.ts) rather than a table inside
// `suppression`, whose schema version belongs to suppression.ts. Campaign names starting
// with `suppression` are refused by the campaign loader, so no journal folder can take
// this name. A row is written only after what the message taught has been written to the
// suppression list: a crash in between means the message is read again next time (an
// unsubscribe is never lost; a soft bounce may be counted once more).

import path from 'node:path';
import { SUPPRESSION_FILE } from './folder.js';
import { openDatabase } from './sqlite.js';

export const PROCESSED_FILE = `${SUPPRESSION_FILE}-processed`;
const SCHEMA_VERSION = 2;

export interface ProcessedInput {
  /** The mailbox, without credentials: `imaps://user@host:993/INBOX`, `dir:/path`. */
  mailbox: string;
  /** Place in that mailbox: `uidvalidity:uid`, a UIDL, a file name. */
  id: string;
  messageId?: string;
  /** What the message says, hashed: the same for every copy of it, wherever it is read. */
  fingerprint?: string;
  /** What it was classified as (`hard`, `unknown`, `duplicate` ...). */
  kind: string;
  /** Epoch ms. */
  at: number;
}

export interface ProcessedEntry extends ProcessedInput {}

export interface ProcessedStore {
  readonly file: string;
  get(mailbox: string, id: string): ProcessedEntry | undefined;
  /**
   * The first record of a copy of this message, in any mailbox: the same fingerprint, or (for
   * records of versions before fingerprints) the same Message-ID.
   */
  earlierCopy(fingerprint: string, messageId?: string): ProcessedEntry | undefined;
  /** Durable on return. Recording an id twice keeps the first record. */
  record(entry: ProcessedInput): void;
  count(mailbox?: string): number;
  close(): void;
}

interface Row {
  mailbox: string;
  id: string;
  message_id: string | null;
  fingerprint: string | null;
  kind: string;
  at: number;
}

export function processedFile(stateDir: string): string {
  return path.join(stateDir, PROCESSED_FILE);
}

export function openProcessed(stateDir: string): ProcessedStore {
  const file = processedFile(stateDir);
  const db = openDatabase(file, {
    version: SCHEMA_VERSION,
    kind: { table: 'processed', what: 'record of processed mail' },
    migrate: (d) => {
      d.exec(`
        CREATE TABLE IF NOT EXISTS processed (
          mailbox    TEXT NOT NULL,
          id         TEXT NOT NULL,
          message_id TEXT,
          kind       TEXT NOT NULL,
          at         INTEGER NOT NULL,
          PRIMARY KEY (mailbox, id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS processed_message_id ON processed (message_id);
      `);
      // Format 2: the fingerprint (records of format 1 have none, and are matched by Message-ID).
      const columns = d.prepare('PRAGMA table_info(processed)').all() as { name: string }[];
      if (!columns.some((c) => c.name === 'fingerprint')) d.exec('ALTER TABLE processed ADD COLUMN fingerprint TEXT');
      d.exec('CREATE INDEX IF NOT EXISTS processed_fingerprint ON processed (fingerprint)');
    },
  });
  const st = {
    get: db.prepare('SELECT * FROM processed WHERE mailbox = ? AND id = ?'),
    byFingerprint: db.prepare('SELECT * FROM processed WHERE fingerprint = ? ORDER BY at LIMIT 1'),
    byOldMid: db.prepare('SELECT * FROM processed WHERE message_id = ? AND fingerprint IS NULL ORDER BY at LIMIT 1'),
    insert: db.prepare('INSERT OR IGNORE INTO processed (mailbox, id, message_id, fingerprint, kind, at) VALUES (?, ?, ?, ?, ?, ?)'),
    count: db.prepare('SELECT COUNT(*) FROM processed').pluck(),
    countIn: db.prepare('SELECT COUNT(*) FROM processed WHERE mailbox = ?').pluck(),
  };
  let closed = false;
  const usable = () => {
    if (closed) throw new Error('processed store: used after close()');
  };
  return {
    file,
    get(mailbox, id) {
      usable();
      const r = st.get.get(mailbox, id) as Row | undefined;
      return r && toEntry(r);
    },
    earlierCopy(fingerprint, messageId) {
      usable();
      const r = (st.byFingerprint.get(fingerprint) ?? (messageId ? st.byOldMid.get(messageId) : undefined)) as Row | undefined;
      return r && toEntry(r);
    },
    record(e) {
      usable();
      st.insert.run(e.mailbox, e.id, e.messageId ?? null, e.fingerprint ?? null, e.kind, e.at);
    },
    count(mailbox) {
      usable();
      return (mailbox === undefined ? st.count.get() : st.countIn.get(mailbox)) as number;
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

function toEntry(r: Row): ProcessedEntry {
  const e: ProcessedEntry = { mailbox: r.mailbox, id: r.id, kind: r.kind, at: r.at };
  if (r.message_id !== null) e.messageId = r.message_id;
  if (r.fingerprint !== null) e.fingerprint = r.fingerprint;
  return e;
}
