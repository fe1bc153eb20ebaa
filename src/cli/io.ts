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
  io.stdout.write(shown(line) + '\n');
}

export function err(io: Io, line: string): void {
  io.stderr.write(shown(line) + '\n');
}

/**
 * Secrets masked, and control characters other than tab and line break shown as spaces: a
 * server's reply or a list's value must not move the cursor, retitle the terminal or hide text
 * (ESC sequences). The progress bar writes its own, not through here.
 */
function shown(line: string): string {
  // eslint-disable-next-line no-control-regex
  return redact(line).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, ' ');
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
