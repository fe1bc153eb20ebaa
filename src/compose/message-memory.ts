// The memory a message's bytes are written into, lent and given back (issue 6).
//
// A composed newsletter is one ~38 KB Buffer, dropped as soon as its transaction ends. Memory
// of that size is outside V8's heap: it is freed only when a garbage collection finds the
// Buffer dead, and the less other garbage a message leaves, the rarer those collections are.
// Over a million messages tens of megabytes of dead Buffers waited for one at a time, and the
// allocator's heap grew with the churn. So a message's memory is lent from here, and given
// back to be written over by a later message once nothing reads it any more.
//
// Whoever reads a lent message past the moment its owner gives it back says so with hold()
// and lets go with give() (the SMTP session, until the socket has written the content); both
// take the Buffer lend() returned, not a part of it. A Buffer not given back is simply
// collected. Only memory lent from here is ever reused: give() of anything else, or of a
// Buffer already given back, does nothing.

/** Blocks are kept by size class: the size rounded up to a multiple of this. */
const STEP = 4096;
/** Larger messages get memory of their own, as before. */
const MAX_POOLED = 1024 * 1024;
/** Memory kept for later messages at most, all classes together. */
const MAX_IDLE = 4 * 1024 * 1024;

const idle = new Map<number, Buffer[]>();
let idleBytes = 0;
/** Lent memory: the Buffer handed out, its block, and how many still read it. */
const lent = new WeakMap<Buffer, { block: Buffer; holders: number }>();

/** `size` bytes (not zeroed) for a message; the caller holds them. */
export function lend(size: number): Buffer {
  if (size > MAX_POOLED || size === 0) return Buffer.allocUnsafeSlow(size);
  const cls = Math.ceil(size / STEP);
  const free = idle.get(cls);
  let block = free?.pop();
  if (block) idleBytes -= block.length;
  else block = Buffer.allocUnsafeSlow(cls * STEP);
  const buf = block.subarray(0, size);
  lent.set(buf, { block, holders: 1 });
  return buf;
}

/** One more reader of `buf`, until its give(). */
export function hold(buf: Buffer): void {
  const l = lent.get(buf);
  if (l) l.holders++;
}

/** Its reader is done with `buf`; the last one's give() lets later messages write over it. */
export function give(buf: Buffer): void {
  const l = lent.get(buf);
  if (!l || --l.holders > 0) return;
  lent.delete(buf);
  if (idleBytes + l.block.length > MAX_IDLE) return;
  const cls = l.block.length / STEP;
  let free = idle.get(cls);
  if (!free) idle.set(cls, (free = []));
  free.push(l.block);
  idleBytes += l.block.length;
}

/** Never to be written over: for a reader that cannot tell when it is done. */
export function keep(buf: Buffer): void {
  lent.delete(buf);
}
