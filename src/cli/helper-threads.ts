// Imported by cli.ts before the rest of the program. A send often shares the machine's cores
// with its SMTP server: a local Postfix that relays to the world, or the bench's smtp-sink.
// For the first seconds of a send, V8's helper threads (its optimizing compiler, working through
// every hot function, and its GC helpers) compete with both: on 2 cores they took half a core
// while the first ~3,000 of 10,000 messages went out, and the server waited for a core. At the
// lowest priority (nice 19) they use time nobody else wants: a 10,000-message send to smtp-sink
// on 2 cores took ~4% less time (issue 6; nice 5 and 10 made no difference). The main thread
// and libuv's pool (file I/O: the journal's fdatasync) keep their priority.
//
// Linux only: /proc/self/task lists the threads, and setpriority() takes a thread's id. Node
// starts its platform's threads (V8's workers and Node's own) right after the main thread, and
// libuv's pool when the ES module loader first reads a file, before this module runs: the
// helpers are the threads between the main thread and the pool's (UV_THREADPOOL_SIZE, 4 by
// default), in the order the kernel numbered them.

import fs from 'node:fs';
import os from 'node:os';

/** The commands that send (and so may share the cores with their SMTP server). */
const SENDING = new Set(['send', 'schedule']);

/** The ids of V8's and Node's helper threads among `tids`: neither `main` nor the pool's last `poolSize`. */
export function helperThreads(tids: number[], main: number, poolSize: number): number[] {
  const others = tids.filter((t) => t !== main).sort((a, b) => a - b);
  return others.slice(0, Math.max(0, others.length - poolSize));
}

/** Lowers the helpers' priority; quietly does nothing where that cannot be done. */
export function lowerHelperThreads(): void {
  if (process.platform !== 'linux') return;
  let tids: number[];
  try {
    tids = fs.readdirSync('/proc/self/task').map(Number);
  } catch {
    return;
  }
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  for (const t of helperThreads(tids, process.pid, pool)) {
    try {
      os.setPriority(t, 19);
    } catch {
      // Gone, or not ours to change: it keeps its priority.
    }
  }
}

if (SENDING.has(process.argv[2] ?? '')) lowerHelperThreads();
