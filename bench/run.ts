// `npm run bench`: how fast mailcamp is, against this machine's ceiling and a hand-written
// baseline, in one run so the ratios hold whatever the machine (issue 6). Steps:
//   1. ceiling: Postfix smtp-source → smtp-sink, 5 persistent sessions, same message size;
//   2. baseline: bench/baseline.ts (MJML once + nodemailer pool of 5) → smtp-sink;
//   3. `mailcamp send` (the built CLI, real journal, real report) → smtp-sink, N = 10k, 100k,
//      with the template compiled before (by step 4's first run, as validate would); and at 10k
//      once more with the template just edited, so that MJML compiles in the run;
//   4. render + compose only (library functions, no network), N = 100k;
//   5. peak RSS: send at 10k, render+compose at 10k and 1M; `validate` of a 1M-row CSV with 3
//      bad rows (all 3 must be found);
//   6. start-up: `--version` and `validate` of examples/newsletter.
// Every network run checks that the sink counted exactly N messages; a sample of the
// messages is parsed back with mailparser (check.ts).
//
//   npm run bench                 # the full run (what bench/RESULTS.md reports)
//   npm run bench -- --quick      # 10k sends only, render+compose on 20k, no million
//   options: --out FILE (default bench/results.json), --keep (keep the temp folder)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectedRows, checkDumps } from './check.js';
import { makeFixture } from './fixture.js';
import { type Measurement, printTable, verdicts } from './table.js';
import { medianMs, requireTools, Sink, SMTP_SOURCE, timed } from './sink.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(root, 'dist', 'cli.js');
const BUILD = path.join(root, 'node_modules', '.cache', 'mailcamp-bench');

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const keep = argv.includes('--keep');
const outIdx = argv.indexOf('--out');
const outFile = outIdx >= 0 ? path.resolve(argv[outIdx + 1]) : path.join(root, 'bench', 'results.json');

const log = (s: string) => process.stderr.write(s + '\n');

function buildChildren(): void {
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` (npm run bench does)');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'bench', 'tsconfig.json')], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error('compiling the bench failed');
  // node_modules/ is a package boundary: say that these files are ES modules.
  fs.writeFileSync(path.join(BUILD, 'package.json'), '{"type":"module"}\n');
}

function mustEqual(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${what}: got ${got}, expected ${want}`);
}

async function ceiling(n: number, size: number): Promise<Measurement> {
  const sink = await Sink.start();
  const t = await timed(SMTP_SOURCE, ['-s', '5', '-d', '-m', String(n), '-l', String(size), '-f', 'news@acme.example', '-t', 'user@example.test', `127.0.0.1:${sink.port}`]);
  const got = await sink.stop(n);
  if (t.code !== 0) throw new Error(`smtp-source failed: ${t.stderr}`);
  mustEqual(`ceiling N=${n}: messages at the sink`, got, n);
  return { id: `ceiling-${n}`, what: 'smtp-source → smtp-sink (5 sessions)', n, seconds: t.seconds, perSecond: n / t.seconds, peakRssMb: t.peakMb, sinkCount: got };
}

async function baseline(fixtureDir: string, csv: string, n: number): Promise<Measurement> {
  const sink = await Sink.start();
  const t = await timed(process.execPath, [path.join(BUILD, 'bench', 'baseline.js'), fixtureDir, csv, String(sink.port)]);
  const got = await sink.stop(n);
  if (t.code !== 0) throw new Error(`baseline failed: ${t.stderr}`);
  const r = JSON.parse(t.stdout.trim().split('\n').pop()!) as { sent: number; failed: number };
  mustEqual(`baseline N=${n}: sent`, r.sent, n);
  mustEqual(`baseline N=${n}: messages at the sink`, got, n);
  return { id: `baseline-${n}`, what: 'baseline: MJML once + nodemailer pool of 5', n, seconds: t.seconds, perSecond: n / t.seconds, peakRssMb: t.peakMb, sinkCount: got };
}

/**
 * `mailcamp send` of `campaign` to a sink. Its template was compiled by an earlier step (the
 * render + compose one, as `validate` or `preview` would have), so the send uses the HTML mjml
 * left in the cache (README, "Files"); with `edited` (the template), that file's mtime is set to
 * now first, as an edit would, and the send compiles it again.
 */
async function send(campaign: string, n: number, work: string, opts: { dump?: string; edited?: string } = {}): Promise<Measurement> {
  const { dump, edited } = opts;
  const tag = `${n}${dump ? '-dump' : ''}${edited ? '-edited' : ''}`;
  const sink = await Sink.start(dump);
  const state = path.join(work, `state-${tag}`);
  const report = path.join(work, 'reports', `send-${tag}.json`);
  if (edited) fs.utimesSync(edited, new Date(), new Date());
  const t = await timed(process.execPath, [
    CLI, 'send', campaign, '--transport', `smtp+plain://127.0.0.1:${sink.port}`, '--yes', '--json', '--state', state, '--report', report,
  ]);
  const got = await sink.stop(n);
  if (t.code !== 0) throw new Error(`mailcamp send N=${n} exited ${t.code}: ${t.stderr}`);
  const s = JSON.parse(t.stdout.trim().split('\n').pop()!) as { totals: { sent: number; recipients: number } };
  mustEqual(`mailcamp send N=${n}: sent`, s.totals.sent, n);
  mustEqual(`mailcamp send N=${n}: messages at the sink`, got, n);
  // The report is real: N messages, all sent.
  const r = JSON.parse(fs.readFileSync(report, 'utf8')) as { messages: { status: string }[] };
  mustEqual(`mailcamp send N=${n}: sent rows in the report`, r.messages.filter((m) => m.status === 'sent').length, n);
  const what = edited ? 'mailcamp send, template just edited (MJML compiles in the run)' : 'mailcamp send (CLI, journal, report)';
  return { id: `send-${n}${edited ? '-edited' : ''}`, what, n, seconds: t.seconds, perSecond: n / t.seconds, peakRssMb: t.peakMb, sinkCount: got };
}

async function renderCompose(campaign: string, pdf: string, n: number): Promise<Measurement & { avgBytes: number; checked: number }> {
  const t = await timed(process.execPath, [path.join(BUILD, 'bench', 'render-compose.js'), campaign, pdf, '20']);
  if (t.code !== 0) throw new Error(`render+compose N=${n} failed: ${t.stderr}`);
  const r = JSON.parse(t.stdout.trim().split('\n').pop()!) as {
    messages: number; loopSeconds: number; perSecond: number; peakRssMb: number; avgBytes: number; checked: number; problems: string[];
  };
  mustEqual(`render+compose N=${n}: messages`, r.messages, n);
  if (r.problems.length) throw new Error(`render+compose N=${n}: sampled messages are wrong:\n  ${r.problems.join('\n  ')}`);
  return {
    id: `render-compose-${n}`, what: 'render + compose only (no network)', n, seconds: r.loopSeconds, perSecond: r.perSecond,
    peakRssMb: t.peakMb, avgBytes: r.avgBytes, checked: r.checked, note: `${r.checked} sampled messages parse back correctly`,
  };
}

async function validateMillion(campaign: string, n: number, badLines: number[]): Promise<Measurement & { found: number }> {
  const t = await timed(process.execPath, [CLI, 'validate', campaign]);
  const found = badLines.filter((l) => new RegExp(`:${l}: column 'email': invalid address`).test(t.stderr)).length;
  if (t.code !== 2) throw new Error(`validate of the list with bad rows exited ${t.code} (expected 2): ${t.stderr.slice(0, 500)}`);
  return { id: `validate-${n}`, what: `validate, ${n.toLocaleString('en')} rows with ${badLines.length} bad`, n, seconds: t.seconds, perSecond: n / t.seconds, peakRssMb: t.peakMb, found, note: `${found} of ${badLines.length} bad rows reported` };
}

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

async function main(): Promise<void> {
  requireTools();
  buildChildren();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-bench-'));
  const results: Measurement[] = [];
  const started = new Date();
  const step = (s: string) => log(`[${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)} s] ${s}`);
  try {
    const fx = makeFixture(path.join(work, 'fixture'));
    const N1 = 10_000;
    const N2 = quick ? 0 : 100_000;
    const NRC = quick ? 20_000 : 100_000;
    const NM = quick ? 0 : 1_000_000;

    step(`render + compose, N=${N1} (message size, peak RSS)`);
    const rc1 = await renderCompose(await fx.campaignFor(N1), fx.pdf, N1);
    results.push(rc1);
    const size = Math.round(rc1.avgBytes);

    for (const n of [N1, N2].filter(Boolean)) {
      step(`ceiling, N=${n}, ${size} bytes`);
      results.push(await ceiling(n, size));
    }
    step(`baseline, N=${N1}`);
    results.push(await baseline(fx.dir, await fx.list(N1), N1));
    for (const n of [N1, N2].filter(Boolean)) {
      step(`mailcamp send, N=${n}`);
      results.push(await send(await fx.campaignFor(n), n, work));
    }
    step(`mailcamp send, N=${N1}, the template just edited`);
    results.push(await send(await fx.campaignFor(N1), N1, work, { edited: fx.mjml }));
    step('mailcamp send, N=300, to a sink that keeps every message: parse them all back');
    // Its own folder under /tmp: smtp-sink writes there as `nobody` when we are root.
    const dumpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-bench-dump-'));
    let dumps: Awaited<ReturnType<typeof checkDumps>>;
    try {
      await send(await fx.campaignFor(300), 300, work, { dump: dumpDir });
      dumps = await checkDumps(dumpDir, expectedRows(300), fs.readFileSync(fx.pdf));
    } finally {
      fs.rmSync(dumpDir, { recursive: true, force: true });
    }
    if (dumps.problems.length || dumps.checked !== 300) {
      throw new Error(`messages received by the sink are wrong (${dumps.checked} checked):\n  ${dumps.problems.slice(0, 20).join('\n  ')}`);
    }

    step(`render + compose, N=${NRC}`);
    results.push(await renderCompose(await fx.campaignFor(NRC), fx.pdf, NRC));
    if (NM) {
      step(`render + compose, N=${NM} (peak RSS)`);
      results.push(await renderCompose(await fx.campaignFor(NM), fx.pdf, NM));
      const bad = [123_456, 500_000, 987_654];
      step(`validate, N=${NM} with ${bad.length} bad rows`);
      results.push(await validateMillion(await fx.campaignFor(NM, bad), NM, bad.map((i) => i + 2)));
    }

    step('start-up');
    const version = medianMs(process.execPath, [CLI, '--version'], 11);
    const example = path.join(root, 'examples', 'newsletter', 'campaign.yaml');
    const validate = medianMs(process.execPath, [CLI, 'validate', example], 5);
    if (version.code !== 0 || validate.code !== 0) throw new Error('start-up commands failed');

    const startup = { versionMs: version.medianMs, validateExampleMs: validate.medianMs };
    const v = verdicts(results, startup);
    const out = {
      date: started.toISOString(),
      machine: machine(),
      quick,
      messageBytes: size,
      dumpCheck: { messages: dumps.checked, problems: dumps.problems.length },
      measurements: results,
      startup,
      ratios: v.ratios,
      acceptance: v.acceptance,
    };
    fs.writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');
    process.stdout.write(printTable(out));
    log(`results: ${outFile}`);
  } finally {
    if (keep) log(`kept: ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  log(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
