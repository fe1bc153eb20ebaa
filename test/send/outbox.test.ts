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
