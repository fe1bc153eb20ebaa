// RFC 3464 field parsing and the RFC 3463 hard/soft rules, on small hand-written cases.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressOfTyped, deliveryStatusInText, parseDeliveryStatus, statusCodeIn } from '../../src/receive/dsn.js';
import { severityOf } from '../../src/receive/severity.js';

test('delivery-status groups: per-message fields, then one group per recipient, folded lines joined', () => {
  const ds = parseDeliveryStatus(
    [
      'Reporting-MTA: dns; mx.example.net',
      'Arrival-Date: Tue, 24 Nov 2026 10:00:00 +0000',
      '',
      'Original-Recipient: rfc822;Bob+2Bnews@example.net',
      'Final-Recipient: RFC822; <bob+news@example.net>',
      'Action: failed',
      'Status: 5.1.1 (bad destination mailbox)',
      'Diagnostic-Code: smtp; 550 5.1.1 <bob+news@example.net>: Recipient',
      '    address rejected: User unknown',
      '',
      'final-recipient: rfc822; carol@example.net',
      'action: delayed',
      'status: 4.4.1',
      'Final-Recipient: rfc822; dave@example.net', // no blank line before it
      'Action: failed',
      'Status: 5.2.2',
    ].join('\r\n'),
  );
  assert.equal(ds.reportingMta, 'mx.example.net');
  assert.deepEqual(ds.recipients, [
    {
      address: 'bob+news@example.net',
      original: 'Bob+news@example.net',
      action: 'failed',
      status: '5.1.1',
      diagnostic: '550 5.1.1 <bob+news@example.net>: Recipient address rejected: User unknown',
    },
    { address: 'carol@example.net', action: 'delayed', status: '4.4.1' },
    { address: 'dave@example.net', action: 'failed', status: '5.2.2' },
  ]);
});

test('fields flattened into text are found; codes and typed addresses are read leniently', () => {
  const ds = deliveryStatusInText('Your message could not be delivered.\n\nFinal-Recipient: rfc822;x@example.org\nAction: failed\nStatus: 5.0.0\n');
  assert.deepEqual(ds?.recipients.map((r) => r.address), ['x@example.org']);
  assert.equal(deliveryStatusInText('nothing here'), undefined);
  assert.equal(statusCodeIn('smtp; 550 5.7.1 blocked'), '5.7.1');
  assert.equal(statusCodeIn('#5.4.4'), '5.4.4');
  assert.equal(statusCodeIn('version 1.2.3.4 and 10.5.1'), undefined);
  assert.equal(statusCodeIn('Status: 4.04.007'), '4.4.7');
  assert.equal(addressOfTyped('rfc822; "a@b.example"'), 'a@b.example');
});

test('hard only when the address itself is wrong (RFC 3463 X.1.x, X.4.4), soft otherwise', () => {
  const cases: Array<[string | undefined, string | undefined, string | undefined, string]> = [
    ['failed', '5.1.1', '550 5.1.1 user unknown', 'hard'],
    ['failed', '5.1.2', 'host not found', 'hard'],
    ['failed', '5.1.6', '551 not our customer', 'hard'], // mailbox has moved
    ['failed', '5.1.10', 'null MX', 'hard'], // RFC 7505
    ['failed', '5.4.4', 'unable to route', 'hard'],
    ['failed', '5.1.1', '550 5.1.1 blocked by spamhaus', 'soft'], // a filter in disguise
    ['failed', '5.1.8', 'sender domain does not exist', 'soft'], // the sender's address
    ['failed', '5.2.2', 'mailbox full', 'soft'],
    ['failed', '5.7.1', 'message rejected as spam', 'soft'],
    ['failed', '4.2.2', 'over quota', 'soft'],
    ['failed', '4.4.7', 'delivery time expired', 'soft'],
    ['delayed', '4.4.1', 'no answer from host', 'delayed'],
    ['failed', '5.0.0', '550 No such user here', 'hard'],
    ['failed', '5.0.0', '550 Requested action not taken: mailbox unavailable', 'soft'], // RFC 5321 wording, any reason
    ['failed', '5.0.0', '550 user unknown; try again later', 'soft'],
    ['failed', '5.2.1', 'Recipient address rejected: User unknown', 'hard'],
    ['failed', '5.2.1', 'mailbox disabled for policy reasons', 'soft'],
    [undefined, undefined, 'This user doesn\'t have a yahoo.com account', 'hard'],
  ];
  for (const [action, status, text, want] of cases) {
    assert.equal(severityOf(action, status, text), want, `${action} ${status} ${text}`);
  }
  // The remote reply outweighs the reporting MTA's prose about it.
  assert.equal(severityOf('failed', '5.1.3', '553 http://www.spamhaus.org/query/bl?ip=192.0.2.1', '550 5.1.1 <x@y>... User unknown'), 'soft');
  // Japanese carriers say "user unknown" after DATA when the recipient's filter refused.
  assert.equal(severityOf('failed', '5.0.0', '550 : User unknown', '', 'x@ezweb.ne.jp'), 'soft');
  assert.equal(severityOf('failed', '5.0.0', '>>> RCPT TO:<x@ezweb.ne.jp> <<< 550 User unknown', '', 'x@ezweb.ne.jp'), 'hard');
});
