// Issue 4 acceptance 1: one broken campaign per case (test/fixtures/broken/*), `validate`
// prints the exact place and message of every problem; `send` on each exits 2 against a
// live smtp-server that records zero connections.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';
import { tmpDir } from '../helpers/tmp.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/broken');
const cases = fs.readdirSync(ROOT).filter((d) => fs.existsSync(path.join(ROOT, d, 'expected.json')));

interface Expected {
  exit: number;
  errors: string[];
  warnings: string[];
}

/** A private copy, so that send's state and reports never land in the repository. */
function copy(name: string): string {
  const dir = path.join(tmpDir('mailcamp-broken-'), name);
  fs.cpSync(path.join(ROOT, name), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

describe('broken campaigns', () => {
  let server: TestSmtpServer;
  before(async () => {
    server = await startSmtpServer({ starttls: false });
  });
  after(async () => {
    await server.close();
  });

  test(`at least 25 cases`, () => {
    assert.ok(cases.length >= 25, `${cases.length} cases`);
  });

  for (const name of cases) {
    test(name, async () => {
      const exp = JSON.parse(fs.readFileSync(path.join(ROOT, name, 'expected.json'), 'utf8')) as Expected;
      const dir = copy(name);
      const v = await runCli(['validate', 'campaign.yaml'], { cwd: dir });
      const lines = v.stderr.trim().split('\n').filter(Boolean);
      const errors = lines.filter((l) => !/: warning: /.test(l) && !/^\d+ errors?, \d+ warnings?; nothing was sent$/.test(l));
      const warnings = lines.filter((l) => /: warning: /.test(l));
      assert.deepEqual({ exit: v.code, errors, warnings }, { exit: exp.exit, errors: exp.errors, warnings: exp.warnings });
      assert.ok(!/\n\s+at /.test(v.stderr), 'no stack trace');

      const before = server.connections;
      const s = await runCli(['send', 'campaign.yaml', '--transport', `smtp://127.0.0.1:${server.port}`, '--yes'], { cwd: dir });
      if (exp.exit === 2) {
        assert.equal(s.code, 2, s.stderr);
        assert.equal(server.connections, before, 'no connection opened');
        // send names every problem validate names.
        const sent = s.stderr.trim().split('\n');
        for (const e of exp.errors) assert.ok(sent.includes(e), `send does not say: ${e}\n${s.stderr}`);
      } else {
        assert.equal(s.code, 0, s.stderr);
      }
    });
  }
});
