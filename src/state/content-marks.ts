// The content marks of a journal (`.mailcamp/<name>/content-marks`, beside journal.sqlite):
// which `sending` entries had their content start to go out. See "Knowing which ones went out"
// in journal.ts for what they decide; this file is how they are kept.
//
// A mark is written right before a message's first byte of content, so it costs the main
// thread on every message: one commit of `content_at` took ~15-20 µs of a fast run's ~300 µs
// per message (issue 6); one positional write of a slot here takes ~1.5 µs. It needs what the
// commit gave and no more: to be in the kernel (not on the disk) before the content goes out,
// so that a process that dies leaves it behind; after a reboot no mark is trusted (journal.ts).
//
// The file is a row of fixed slots of SLOT bytes, one per message whose content is on its way:
// `["key",sendingAt,contentAt]` padded with spaces, then "\n". The journal commits results a
// few at a time (journal.ts, "Results"); the outcomes not committed yet ride along in the next
// mark written, `["key",sendingAt,contentAt,null,[["key",sendingAt,{outcome}],…]]`, or, when
// they do not fit there, each goes into its own message's slot, `[…,contentAt,{outcome}]`.
// A mark's slot outlives the outcomes it carries: it is kept until its own entry's next state
// is on disk, which the earlier results reach first. `sendingAt` is the time of the
// entry's `sending` mark (its updated_at in the journal): a mark counts only for that try of
// the entry, so an old mark left in a slot never speaks for a later try. A slot is taken at
// the mark and given back once the entry's next state (its result, or `pending` again) is on
// disk; until then a crash finds the mark. Slots never straddle a page, so a mark is written
// whole or not at all as far as a dying process goes. A key too long for a slot (a group's
// value can be long) is marked in the journal's `content_at` instead.

import fs from 'node:fs';
import path from 'node:path';
import type { ResultUpdate } from './journal-api.js';

export const CONTENT_MARKS_FILE = 'content-marks';

const SLOT = 512;

/** A message's outcome as its slot keeps it: the result update, and when it was made. */
export type SlotOutcome = Omit<ResultUpdate, 'key'> & { at: number };

interface Held {
  slot: number;
  sendingAt: number;
  contentAt: number;
  /** Outcomes of other messages this slot carries; its own, once written. */
  carried: Carried[];
  outcome?: SlotOutcome;
}

export interface Found {
  sendingAt: number;
  /** Absent when only an outcome carried by another slot was found. */
  contentAt?: number;
  outcome?: SlotOutcome;
}

/** An outcome another mark's slot carries: the key and try it is for. */
export interface Carried {
  key: string;
  sendingAt: number;
  outcome: SlotOutcome;
}

export class ContentMarks {
  private readonly file: string;
  private fd: number | undefined;
  private readonly held = new Map<string, Held>();
  private free: number[] = [];
  private next = 0;
  private readonly scratch = Buffer.alloc(SLOT);
  /** key → its marks, as last read (undefined after a change). */
  private cache: Map<string, Found[]> | undefined;

  constructor(dir: string) {
    this.file = path.join(dir, CONTENT_MARKS_FILE);
  }

  /**
   * Writes the mark, with the outcomes it carries; false when that does not fit in a slot (the
   * caller marks it another way). Throws on an I/O error.
   */
  mark(key: string, sendingAt: number, contentAt: number, carried: Carried[] = []): boolean {
    const had = this.held.get(key);
    // The same try marked again (a group's follow-up transaction): its first mark stands, and
    // what its slot carries already stays in it.
    const again = had?.sendingAt === sendingAt ? had : undefined;
    if (again && !carried.length) return true;
    const h: Held = {
      slot: had?.slot ?? -1,
      sendingAt,
      contentAt: again?.contentAt ?? contentAt,
      carried: [...(again?.carried ?? []), ...carried],
      outcome: again?.outcome,
    };
    const text = this.fitting(key, h);
    if (text === undefined) return false;
    if (h.slot < 0) h.slot = this.free.pop() ?? this.next++;
    this.held.set(key, h);
    this.write(h.slot, text);
    return true;
  }

  /**
   * Adds the outcome to the slot of `key`'s mark; false when it has none (no mark, or another
   * try's) or the outcome does not fit (the caller commits it instead). Throws on an I/O error.
   */
  settle(key: string, sendingAt: number, outcome: SlotOutcome): boolean {
    const had = this.held.get(key);
    if (!had || had.sendingAt !== sendingAt) return false;
    const h = { ...had, outcome };
    const text = this.fitting(key, h);
    if (text === undefined) return false;
    this.held.set(key, h);
    this.write(h.slot, text);
    return true;
  }

  /** The slot's text for `h`, or undefined when it does not fit in a slot. */
  private fitting(key: string, h: Held): string | undefined {
    const row: unknown[] = [key, h.sendingAt, h.contentAt];
    if (h.outcome || h.carried.length) row.push(h.outcome ?? null);
    if (h.carried.length) row.push(h.carried.map((c) => [c.key, c.sendingAt, c.outcome]));
    const text = JSON.stringify(row);
    return Buffer.byteLength(text) <= SLOT - 1 ? text : undefined;
  }

  private write(slot: number, text: string): void {
    this.scratch.fill(0x20);
    this.scratch.write(text);
    this.scratch[SLOT - 1] = 0x0a;
    this.fd ??= fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    fs.writeSync(this.fd, this.scratch, 0, SLOT, slot * SLOT);
    this.cache = undefined;
  }

  /** The slot of `key` may be reused: its next state is on disk (for the try marked at `sendingAt`, when given). */
  release(key: string, sendingAt?: number): void {
    const h = this.held.get(key);
    if (!h || (sendingAt !== undefined && h.sendingAt !== sendingAt)) return;
    this.held.delete(key);
    this.free.push(h.slot);
  }

  /** When the content of `key`'s try marked `sending` at `sendingAt` started to go out, if it did. */
  find(key: string, sendingAt: number): number | undefined {
    return this.slot(key, sendingAt)?.contentAt;
  }

  /** The outcome of `key`'s try marked `sending` at `sendingAt`, when its slot has one. */
  outcome(key: string, sendingAt: number): SlotOutcome | undefined {
    return this.slot(key, sendingAt)?.outcome;
  }

  /** What the slots say of `key`'s try marked `sending` at `sendingAt`: when its content went out, and its outcome if there is one. */
  slot(key: string, sendingAt: number): Found | undefined {
    this.cache ??= this.read();
    return this.cache.get(key)?.find((f) => f.sendingAt === sendingAt);
  }

  /** Whether `key`'s try marked at `sendingAt` has its mark in a slot of this process. */
  holds(key: string, sendingAt: number): boolean {
    return this.held.get(key)?.sendingAt === sendingAt;
  }

  /** Forgets every mark (a new run, or a resume that has settled the last one's). */
  clear(): void {
    this.held.clear();
    this.free = [];
    this.next = 0;
    this.cache = new Map();
    if (this.fd !== undefined) fs.ftruncateSync(this.fd, 0);
    else if (fs.existsSync(this.file)) fs.truncateSync(this.file, 0);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private read(): Map<string, Found[]> {
    const marks = new Map<string, Found[]>();
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return marks;
      throw e;
    }
    // Slot by slot: one never written (a hole) reads as NULs, without the "\n" that ends a mark.
    for (let at = 0; at + SLOT <= bytes.length; at += SLOT) {
      let v: unknown;
      try {
        v = JSON.parse(bytes.toString('utf8', at, at + SLOT));
      } catch {
        continue; // an empty slot, or one never written whole
      }
      if (!Array.isArray(v) || v.length < 3 || v.length > 5 || typeof v[0] !== 'string' || typeof v[1] !== 'number' || typeof v[2] !== 'number') continue;
      const found = (key: string, sendingAt: number): Found => {
        const list = marks.get(key) ?? [];
        marks.set(key, list);
        let f = list.find((x) => x.sendingAt === sendingAt);
        if (!f) list.push((f = { sendingAt }));
        return f;
      };
      const own = found(v[0], v[1]);
      own.contentAt = v[2];
      if (isOutcome(v[3])) own.outcome = v[3];
      for (const c of Array.isArray(v[4]) ? (v[4] as unknown[]) : []) {
        if (Array.isArray(c) && typeof c[0] === 'string' && typeof c[1] === 'number' && isOutcome(c[2])) found(c[0], c[1]).outcome = c[2];
      }
    }
    return marks;
  }
}

function isOutcome(o: unknown): o is SlotOutcome {
  const x = o as SlotOutcome;
  return typeof x === 'object' && x !== null && ['sent', 'failed', 'deferred', 'unknown', 'skipped'].includes(x.status) && typeof x.at === 'number';
}
