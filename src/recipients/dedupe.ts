// A memory-compact "have we seen this address?" set for lists of a million rows and more.
//
// A JavaScript Set of 1M address strings costs ~80-100 MB (string headers, hash table, pointers).
// Instead we keep a 64-bit hash per key in an open-addressing table (linear probing) of two
// interleaved 32-bit words in one Uint32Array: 8 bytes per slot, load factor at most 3/4.
// Capacity doubles, unless the caller can tell how many keys are coming (the share of the file
// read so far): then the table grows once to that, plus a margin. 1M keys from a CSV file take
// ~1.5M slots = 11.4 MiB (doubling alone: 2^21 slots = 16 MiB, and 24 MiB while it doubles).
//
// The trade-off: two different addresses whose 64-bit hashes collide are taken as duplicates, and
// the second one is skipped (with a visible "duplicate" warning). The two 32-bit halves come from
// two unrelated functions (FNV-1a and a MurmurHash3-style mix, both with the murmur3 finalizer), so
// the chance of any false duplicate among n keys is about n^2 / 2^65: ~3e-8 for a million
// addresses, ~3e-6 for ten million. We accept that to keep memory flat; the table keeps no
// strings and therefore cannot say on which line a duplicate was first seen.

const EMPTY = 0; // a slot is empty when both words are 0; a key hashing to (0, 0) is stored as (0, 1)
const MAX_LOAD_NUM = 3;
const MAX_LOAD_DEN = 4;

export class SeenSet {
  private slots: Uint32Array;
  private cap: number;
  private count = 0;

  /** `expect()`: how many keys there will be in all, asked when the table is full; undefined when it cannot tell yet. */
  constructor(
    initialCapacity = 1024,
    private readonly expect?: () => number | undefined,
  ) {
    this.cap = Math.max(16, initialCapacity);
    this.slots = new Uint32Array(this.cap * 2);
  }

  /** Records `key`; returns false when it (or a key with the same 64-bit hash) was already added. */
  add(key: string): boolean {
    const hi = hashFnv(key);
    let lo = hashMurmur(key);
    if (hi === EMPTY && lo === EMPTY) lo = 1;
    if (this.probe(hi, lo) >= 0) return false;
    if ((this.count + 1) * MAX_LOAD_DEN > this.cap * MAX_LOAD_NUM) {
      this.grow();
    }
    const slot = ~this.probe(hi, lo);
    this.slots[slot * 2] = hi;
    this.slots[slot * 2 + 1] = lo;
    this.count++;
    return true;
  }

  has(key: string): boolean {
    const hi = hashFnv(key);
    let lo = hashMurmur(key);
    if (hi === EMPTY && lo === EMPTY) lo = 1;
    return this.probe(hi, lo) >= 0;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table (for memory budgeting and tests). */
  get byteLength(): number {
    return this.slots.byteLength;
  }

  /** Slot index holding (hi, lo), or ~index of the empty slot where it would go. */
  private probe(hi: number, lo: number): number {
    const slots = this.slots;
    const cap = this.cap;
    // The hash scaled to the capacity (any capacity: below 2^31, the product never rounds up to it).
    let i = ((hi / 4294967296) * cap) | 0;
    for (;;) {
      const h = slots[i * 2];
      const l = slots[i * 2 + 1];
      if (h === EMPTY && l === EMPTY) return ~i;
      if (h === hi && l === lo) return i;
      if (++i === cap) i = 0;
    }
  }

  private grow(): void {
    const old = this.slots;
    const expected = this.expect?.();
    // Room for what is expected and a tenth more: at least a quarter more than now, and at most
    // 128 times as much (an estimate from the first rows can be far off; from a megabyte of a
    // million-row list, ~12,000 rows in 16,384 slots, one step reaches the 1.5M slots it needs).
    const wanted = expected === undefined ? this.cap * 2 : Math.ceil((expected * 1.1 * MAX_LOAD_DEN) / MAX_LOAD_NUM) + 1;
    const cap = Math.min(this.cap * 128, Math.max(Math.ceil(this.cap * 1.25), wanted));
    this.slots = new Uint32Array(cap * 2);
    this.cap = cap;
    for (let j = 0; j < old.length; j += 2) {
      const hi = old[j];
      const lo = old[j + 1];
      if (hi === EMPTY && lo === EMPTY) continue;
      const slot = ~this.probe(hi, lo);
      this.slots[slot * 2] = hi;
      this.slots[slot * 2 + 1] = lo;
    }
  }
}

// FNV-1a over UTF-16 code units (keys are JS strings; no need to encode to UTF-8 first).
function hashFnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

// MurmurHash3 x86_32 body, one code unit per block: independent of FNV in structure and constants.
function hashMurmur(s: string): number {
  let h = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    let k = Math.imul(s.charCodeAt(i), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h ^ s.length);
}

// murmur3's finalizer: spreads every input bit over the low bits used for the table index.
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
