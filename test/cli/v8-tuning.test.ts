// cli/v8-tuning.ts: the flag it sets is one V8 knows and acts on. setFlagsFromString ignores an
// unknown flag without a word, so a misspelt name would only show as a slower send.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const tuning = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/v8-tuning.ts');

/** Calls of a small function until V8 marks it for optimization (or optimizes it), in a fresh process. */
function callsToOptimize(tuned: boolean): number {
  // The flag is set after start-up and before the function first runs, as a send sets it.
  const script = `
    import { tuneForSending } from ${JSON.stringify(tuning)};
    if (${tuned}) { tuneForSending(); tuneForSending(); }
    function sum(s) { let n = 0; for (let i = 0; i < s.length; i++) n += s.charCodeAt(i); return n; }
    // Optimized, marked for (concurrent) optimization, or being optimized (V8 11.3 runtime-test.cc).
    const ON_ITS_WAY = (1 << 4) | (1 << 8) | (1 << 9) | (1 << 10);
    let calls = 0;
    while (calls < 100000 && !(%GetOptimizationStatus(sum) & ON_ITS_WAY)) sum('abcdefgh' + calls++);
    process.stdout.write(String(calls));
  `;
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return Number(out);
}

test('tuneForSending makes V8 optimize a hot function sooner (about three times, in calls)', () => {
  const plain = callsToOptimize(false);
  const tuned = callsToOptimize(true);
  assert.ok(plain < 100000, `V8 never optimized the function (${plain} calls): the test measures nothing`);
  assert.ok(tuned * 2 <= plain, `optimized after ${tuned} calls tuned, ${plain} untuned`);
});
