// The error budget (src/send/error-budget.ts) and its campaign key `error_budget`.

import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadCampaign } from '../../src/campaign/load.js';
import { ErrorBudget } from '../../src/send/error-budget.js';
import { ValidationError } from '../../src/shared/diagnostics.js';
import { tmpDir, writeFiles } from '../helpers/tmp.js';

describe('ErrorBudget', () => {
  test('20% of 100: pauses at the 20th failure among the last 100 outcomes, not before', () => {
    const b = new ErrorBudget({ failures: 0.2, fraction: true, window: 100 });
    assert.equal(b.limit, 20);
    for (let i = 0; i < 19; i++) assert.equal(b.record(true), undefined);
    assert.equal(b.record(true), '20 of the 20 messages so far failed (error_budget: 20% of 100)');
  });

  test('the window slides: old failures fall out of it', () => {
    const b = new ErrorBudget({ failures: 3, fraction: false, window: 5 });
    const run = (outcomes: string) => [...outcomes].map((o) => b.record(o === 'x'));
    // x x . . . . x x : the first two failures have left the last five by the time the next come
    assert.deepEqual(run('xx....xx').filter(Boolean), []);
    assert.equal(b.record(true), '3 of the last 5 messages failed (error_budget: 3 of 5)');
  });

  test('a success-only run never pauses; the limit is at least one', () => {
    const b = new ErrorBudget({ failures: 0.001, fraction: true, window: 10 });
    assert.equal(b.limit, 1);
    for (let i = 0; i < 1000; i++) assert.equal(b.record(false), undefined);
    assert.match(b.record(true)!, /^1 of the last 10 messages failed/);
  });
});

describe('campaign key error_budget', () => {
  const load = (budget: string) => {
    const dir = writeFiles(tmpDir(), {
      'c.yaml': `name: x\nfrom: a@example.com\nsubject: s\ntemplate: t.hbs\nrecipients: r.csv\n${budget}`,
      't.hbs': '<p>x</p>',
      'r.csv': 'email\nb@example.com\n',
    });
    return loadCampaign(path.join(dir, 'c.yaml'), { cwd: dir, env: {} });
  };

  test('default 20% of the last 100; a percentage, a count, or off', () => {
    assert.deepEqual(load('').errorBudget, { failures: 0.2, fraction: true, window: 100 });
    assert.deepEqual(load('error_budget: { failures: 5%, window: 1000 }\n').errorBudget, { failures: 0.05, fraction: true, window: 1000 });
    assert.deepEqual(load('error_budget: { failures: 10, window: 50 }\n').errorBudget, { failures: 10, fraction: false, window: 50 });
    assert.equal(load('error_budget: off\n').errorBudget, undefined);
  });

  test('mistakes are reported at their place', () => {
    try {
      load('error_budget: { failures: 120%, windw: 5 }\n');
      assert.fail('should not load');
    } catch (e) {
      assert.ok(e instanceof ValidationError);
      const msgs = e.diagnostics.errors.map((d) => `${d.line}:${d.col}: ${d.message}`);
      assert.ok(msgs.some((m) => /^6:\d+: unknown key 'windw' in error_budget; did you mean 'window'\?/.test(m)), msgs.join('\n'));
      assert.ok(msgs.some((m) => /^6:\d+: error_budget\.failures must be a percentage like 20% or a count/.test(m)), msgs.join('\n'));
    }
  });
});
