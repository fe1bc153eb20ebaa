// Runs the CLI in-process: main(argv, io) with captured streams, in a folder of the test's.

import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(
  argv: string[],
  opts: { cwd: string; env?: Record<string, string | undefined>; signal?: AbortSignal; tty?: boolean; input?: string },
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  if (opts.input !== undefined) stdin.end(opts.input);
  const code = await main(argv, {
    stdout: Object.assign(stdout, { isTTY: false }),
    stderr: Object.assign(stderr, { isTTY: false }),
    stdin: Object.assign(stdin, { isTTY: !!opts.tty }),
    env: { PATH: process.env.PATH, ...opts.env },
    cwd: opts.cwd,
    signal: opts.signal ?? new AbortController().signal,
  });
  await new Promise((r) => setImmediate(r));
  return { code, stdout: out, stderr: err };
}
