// A small campaign in a temp folder for the delivery tests (faults, resume, kill): a Handlebars
// template, a CSV of N recipients r001@example.com ..., and helpers to read what the journal
// says through `mailcamp status --json` (the same path a user's script would take).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { REPO } from '../helpers/examples.js';
import { tmpDir } from '../helpers/tmp.js';

export interface Fixture {
  dir: string;
  campaign: string;
  emails: string[];
}

export function address(i: number): string {
  return `r${String(i).padStart(4, '0')}@example.com`;
}

/** `extra` is appended to the campaign YAML (retry, concurrency, error_budget ...). */
export function makeCampaign(
  opts: { n?: number; emails?: string[]; extra?: string; csv?: string; name?: string; concurrency?: number; retry?: string; template?: string; subject?: string } = {},
): Fixture {
  const dir = tmpDir('mailcamp-delivery-');
  const emails = opts.emails ?? Array.from({ length: opts.n ?? 3 }, (_, i) => address(i + 1));
  const csv = opts.csv ?? 'email,name\n' + emails.map((e, i) => `${e},Person ${i + 1}\n`).join('');
  fs.writeFileSync(path.join(dir, 't.hbs'), opts.template ?? '<p>Hello {{name}}</p>\n');
  fs.writeFileSync(path.join(dir, 'r.csv'), csv);
  fs.writeFileSync(
    path.join(dir, 'c.yaml'),
    `name: ${opts.name ?? 'faults'}\nfrom: news@example.com\nsubject: "${opts.subject ?? 'Hi {{name}}'}"\ntemplate: t.hbs\nrecipients: r.csv\n` +
      `retry: ${opts.retry ?? '{ attempts: 3, initial_delay: 50ms, max_delay: 200ms }'}\nconcurrency: ${opts.concurrency ?? 2}\n` +
      (opts.extra ?? ''),
  );
  return { dir, campaign: path.join(dir, 'c.yaml'), emails };
}

export interface StatusJson {
  campaign: string;
  run_id: string | null;
  state: string;
  reason: string | null;
  totals: Record<string, number>;
  recipients: { row: number; email: string; status: string; attempts: number; response: string | null; next_attempt_at?: string }[];
}

export async function status(f: Fixture, all = true): Promise<StatusJson> {
  const r = await runCli(['status', f.campaign, '--json', ...(all ? ['--all'] : [])], { cwd: f.dir });
  if (r.code !== 0) throw new Error(`status failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusJson;
}

/** Recipient → status, from the journal. */
export async function states(f: Fixture): Promise<Map<string, StatusJson['recipients'][number]>> {
  const s = await status(f, true);
  return new Map(s.recipients.map((r) => [r.email, r]));
}

export const CLI = path.join(REPO, 'dist', 'cli.js');

/**
 * Tests that spawn `node dist/cli.js` need a build no older than the source. `npm test` builds
 * first, so this normally finds nothing to do (and never rewrites dist/ while another test file
 * runs the CLI); run on its own, a test file builds once here.
 */
export function ensureBuilt(): void {
  const stale = (dir: string): boolean =>
    fs.readdirSync(dir, { withFileTypes: true }).some((d) => {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) return stale(p);
      // A declaration file (src/types/*.d.ts) emits nothing: it must not count as never built, or
      // every call rebuilt dist/ while another test file was running the CLI from it.
      if (!d.name.endsWith('.ts') || d.name.endsWith('.d.ts')) return false;
      const out = path.join(REPO, 'dist', path.relative(path.join(REPO, 'src'), p)).replace(/\.ts$/, '.js');
      return !fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(p).mtimeMs;
    });
  if (!stale(path.join(REPO, 'src'))) return;
  // tsc still writes dist/ when some file has a type error; the tests then show what broke.
  spawnSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: REPO, stdio: 'ignore' });
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run npx tsc -p tsconfig.json');
}

/** Spawns the built CLI (`node dist/cli.js ...`) in the fixture's folder. */
export function spawnCli(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}
