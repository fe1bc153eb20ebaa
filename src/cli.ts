#!/usr/bin/env node
// The `mailcamp` executable: wires the process (argv, streams, signals) to main().
// SIGINT/SIGTERM abort the run gracefully: no new messages, those in flight finish (for at most
// the dispatcher's grace period, then their connections are dropped), the journal is consistent,
// the report is written, exit 130. A second signal exits at once: the journal's and the lock's
// exit hooks still run, and what was committed is a consistent prefix (the next send resumes).

import './cli/prewarm.js'; // first: see there
import { main } from './cli/main.js';

const ac = new AbortController();
let signals = 0;
const onSignal = (sig: NodeJS.Signals) => {
  signals++;
  if (signals > 1) {
    process.stderr.write(`\n${sig} again: exiting now (the journal is consistent; run send again to resume)\n`);
    process.exit(130);
  }
  const again = sig === 'SIGINT' ? 'press Ctrl-C again' : `send ${sig} again`;
  process.stderr.write(`\n${sig}: finishing messages in flight (a few seconds at most), then stopping; ${again} to stop at once\n`);
  ac.abort(new Error(sig));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// The terminal went away (ssh dropped, window closed): stop as for SIGTERM, not at once.
process.on('SIGHUP', onSignal);
// `mailcamp … | head`, a `| logger` that went away: a closed pipe ends the output quietly, as for
// any Unix tool, and stops the command as SIGTERM does. Exiting on the spot would leave a send
// as a kill -9 does (messages in flight `sending`, no report, the lock behind) with exit 0.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    // (EIO: the terminal itself is gone, after a SIGHUP.)
    if (e.code !== 'EPIPE' && e.code !== 'EIO' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    if (!ac.signal.aborted) ac.abort(new Error('output closed'));
  });
}

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  // `npm run mailcamp -- …` in this checkout runs in its folder; paths are the user's, from where
  // npm was run. (Another package's script of that name runs where that package wants.)
  cwd: process.env.npm_lifecycle_event === 'mailcamp' && process.env.npm_package_name === 'mailcamp' && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd(),
  signal: ac.signal,
});
process.exitCode = code;
// Leave even if a socket or timer is still around, but only once stdout and stderr are flushed:
// writes to a pipe are asynchronous, and process.exit() drops what is still queued (a
// `status --json | jq` was cut at 64 KiB). A write's callback runs when it has been handed to
// the kernel, after every earlier write on that stream.
const flushed = (s: NodeJS.WriteStream) => new Promise<void>((resolve) => (s.writableEnded || s.destroyed ? resolve() : s.write('', () => resolve())));
void Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => process.exit(code));
