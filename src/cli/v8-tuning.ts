// V8's tier-up during a send. V8 optimizes a function once it has run some 200 KB of bytecode
// (its interrupt budget, 66 KB, three times). The per-message path of a send is many small
// functions run once a message each (render, compose, the SMTP session, the journal), so at
// ~3,000 messages a second they run interpreted for the first second or so: a 10,000-message
// send spent its first ~1.2 s at a third to a half of its later speed (issue 6).
//
// A quarter of the budget makes them optimize sooner (three times, in calls of a small function:
// test/cli/v8-tuning.test.ts). The 10,000-message send of the bench: 3.07 -> 2.78 s (6
// alternating runs). Budgets from 8 KB to 24 KB gave about the same. It is set when the first
// message is about to go, not at start-up: set there, it made `validate` of the newsletter ~50
// ms slower (start-up code, which runs once, optimized for nothing) and the send no faster.
//
// setFlagsFromString takes effect for a function when its budget next runs out. It ignores a
// flag it does not know, without a word: test/cli/v8-tuning.test.ts checks that this one works.

import v8 from 'node:v8';

/** A quarter of V8's default interrupt budget (67,584 in Node 20's V8 11.3). */
export const SENDING_INTERRUPT_BUDGET = 16 * 1024;

let tuned = false;

/** Makes V8 optimize hot functions sooner, for the rest of this process; once. */
export function tuneForSending(): void {
  if (tuned) return;
  tuned = true;
  v8.setFlagsFromString(`--interrupt-budget=${SENDING_INTERRUPT_BUDGET}`);
}
