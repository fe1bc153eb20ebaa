// What the CLI talks to: streams, environment, working directory. Tests call main(argv, io)
// with their own; the real entry point passes the process's.

import type { Readable, Writable } from 'node:stream';
import { redact } from '../shared/secrets.js';

export interface Io {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

export function out(io: Io, line: string): void {
  io.stdout.write(redact(line) + '\n');
}

export function err(io: Io, line: string): void {
  io.stderr.write(redact(line) + '\n');
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
