// Outbox file names: one per message, readable in a file manager whatever the script of the
// address or group, and never a path (no separators, no control characters).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emlName } from '../../src/send/outbox.js';

test('outbox file names keep letters of any script and lose what a file system or shell treats specially', () => {
  assert.equal(emlName(2, 'group:研发部'), '000002-group-研发部.eml');
  assert.equal(emlName(3, 'group:市场部'), '000003-group-市场部.eml');
  assert.equal(emlName(9, 'qian@例子.中国'), '000009-qian@例子.中国.eml');
  assert.equal(emlName(4, 'ann@example.com'), '000004-ann@example.com.eml');
  assert.equal(emlName(5, 'group:../../etc/passwd'), '000005-group-.._.._etc_passwd.eml');
  assert.equal(emlName(6, 'group:a b\u202e\nc'), '000006-group-a_b__c.eml');
});

test('a write that fails (the disk full, the folder gone) is not delivered and stops the run: deferred, not tried, fatal; no temp file left', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { OutboxTransport } = await import('../../src/send/outbox.js');
  const { tmpDir } = await import('../helpers/tmp.js');
  const dir = path.join(tmpDir(), 'outbox');
  const t = new OutboxTransport(dir, () => 'x.eml');
  await t.open();
  fs.rmSync(dir, { recursive: true });
  const gate = { ready: async () => {}, open: async () => {}, handOver: () => {} };
  const r = await t.send({ raw: Buffer.from('Subject: x\r\n\r\nx\r\n') } as never, gate);
  assert.equal(r.status, 'deferred');
  assert.equal(r.notTried, true);
  assert.match(r.response, /^not written: the folder is gone$/);
  assert.match(String(r.fatal), /cannot write to the outbox: the folder is gone \(ENOENT\)/);
  assert.equal(r.fatal?.code, 'TRANSPORT');
});
