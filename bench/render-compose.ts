// Render + compose only, no network: the library functions `send` runs per recipient, measured
// directly in a child process of its own (so its peak RSS is its own):
// loadForSending (YAML, CSV header, MJML compiled once, shared parts encoded once), then
// buildMessage over the streamed units, each message's memory given back as the dispatcher gives
// it back once the message is delivered (compose/message-memory.ts). A sample of the messages is
// copied and, after the timed loop, parsed back with mailparser and checked against its CSV row.
//
//   node <compiled>/bench/render-compose.js <campaign.yaml> <pdf> [samples]
//
// Prints one JSON line. Run compiled (bench/run.ts builds it), not under tsx, whose loader alone
// adds ~35 MB of RSS.

import fs from 'node:fs';
import { loadForSending } from '../src/pipeline/context.js';
import { buildMessage } from '../src/pipeline/message.js';
import { give } from '../src/compose/message-memory.js';
import { unitsOf } from '../src/pipeline/units.js';
import { Diagnostics } from '../src/shared/diagnostics.js';
import { checkMessage } from './check.js';
import type { Row } from './fixture.js';

function hwmMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const [file, pdfFile, samplesArg] = process.argv.slice(2);
  const samples = Number(samplesArg ?? 20);
  const t0 = performance.now();
  const loaded = await loadForSending(file, { env: {} });
  const tLoaded = performance.now();
  const cpu0 = process.cpuUsage();
  const diag = new Diagnostics(0);
  const now = new Date();
  const opts = { runId: '20261122T090000Z-bench0', now, tokenKey: Buffer.alloc(32, 7) };
  const kept: { raw: Buffer; row: Row }[] = [];
  let n = 0;
  let bytes = 0;
  for await (const u of unitsOf(loaded.campaign, diag)) {
    const m = buildMessage(loaded.prepared, u, opts);
    bytes += m.raw.length;
    // Keep a spread-out sample: the first rows (all three scripts) and then every 997th.
    if (kept.length < samples && (n < 9 || n % 997 === 0)) {
      const f = u.members[0].fields;
      // A copy: the message's memory is written over by later messages.
      kept.push({ raw: Buffer.from(m.raw), row: { id: f.id, email: f.email, name: f.name, city: f.city, plan: f.plan, points: f.points } });
    }
    give(m.raw);
    n++;
  }
  const tDone = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const peak = hwmMb();
  diag.throwIfErrors();
  const pdf = fs.readFileSync(pdfFile);
  const problems: string[] = [];
  for (const k of kept) for (const p of await checkMessage(k.raw, k.row, pdf)) problems.push(`${k.row.email}: ${p}`);
  const loop = (tDone - tLoaded) / 1000;
  process.stdout.write(
    JSON.stringify({
      messages: n,
      loadSeconds: (tLoaded - t0) / 1000,
      loopSeconds: loop,
      perSecond: n / loop,
      // CPU time of the loop: steadier than wall time on a busy machine.
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      avgBytes: n ? bytes / n : 0,
      peakRssMb: peak,
      checked: kept.length,
      problems,
    }) + '\n',
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(String((e as Error).stack ?? e) + '\n');
    process.exit(1);
  },
);
