import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAddress, checkAddressSlowPath, hasMixedScripts } from '../../src/recipients/address.js';

const accepted: Array<[input: string, address: string]> = [
  ['alice@example.com', 'alice@example.com'],
  ['Alice.Smith@Example.COM', 'Alice.Smith@example.com'],
  ["o'brien+news@example.co.uk", "o'brien+news@example.co.uk"],
  ["a!#$%&'*+-/=?^_`{|}~z@example.com", "a!#$%&'*+-/=?^_`{|}~z@example.com"],
  ['1234@example.org', '1234@example.org'],
  ['a@b.co', 'a@b.co'],
  ['first.middle.last@sub-domain.example.org', 'first.middle.last@sub-domain.example.org'],
  ['user@例子.中国', 'user@xn--fsqu00a.xn--fiqs8s'],
  ['user@пример.рф', 'user@xn--e1afmkfd.xn--p1ai'],
  ['user@xn--fsqu00a.xn--fiqs8s', 'user@xn--fsqu00a.xn--fiqs8s'],
  ['user@例子。中国', 'user@xn--fsqu00a.xn--fiqs8s'], // ideographic full stop is a dot (UTS #46)
  [`${'a'.repeat(64)}@example.com`, `${'a'.repeat(64)}@example.com`],
  [`a@${'b'.repeat(63)}.com`, `a@${'b'.repeat(63)}.com`],
];

const rejected: Array<[input: string, reason: RegExp]> = [
  ['', /^empty$/],
  ['Bob <bob@example.com>', /display-name form/],
  ['<bob@example.com>', /display-name form/],
  ['a@example.com, b@example.org', /several addresses/],
  ['a@example.com;b@example.org', /several addresses/],
  ['a@example.com b@example.org', /several addresses/],
  ['team: a@example.com, b@example.org;', /group syntax/],
  ['bob(work)@example.com', /comment/],
  ['"john doe"@example.com', /quoted local part/],
  ['john doe@example.com', /whitespace/],
  ['bob@example.com\u00a0', /whitespace/],
  ['a@example.com\r\nBcc: victim@example.org', /line break or NUL/],
  ['a\0@example.com', /line break or NUL/],
  ['a\t@example.com', /control character/],
  ['mailto:a@example.com', /mailto/],
  ['bob.example.com', /missing '@'/],
  ['a@b@example.com', /more than one '@'/],
  ['@example.com', /missing local part/],
  ['bob@', /missing domain/],
  ['bob@localhost', /no dot/],
  ['bob@exa_mple.com', /invalid character '_' in domain/],
  ['bob@exa!mple.com', /invalid character '!' in domain/],
  [`bob@${'b'.repeat(64)}.com`, /label longer than 63/],
  ['bob@[192.0.2.1]', /IP-address literal/],
  ['bob@192.0.2.1', /IP address instead of a domain/],
  ['bob@example.123', /top-level domain starts with a digit/],
  ['bob@example.c', /invalid top-level domain 'c'/],
  [`${'a'.repeat(65)}@example.com`, /local part longer than 64/],
  [`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`, /address longer than 254 characters \(260\)/],
  ['a..b@example.com', /consecutive dots in local part/],
  ['.a@example.com', /local part starts with a dot/],
  ['a.@example.com', /local part ends with a dot/],
  ['a\\b@example.com', /invalid character '\\' in local part/],
  ['a@example..com', /consecutive dots in domain/],
  ['a@.example.com', /domain starts with a dot/],
  ['a@example.com.', /domain ends with a dot/],
  ['a@-example.com', /starts with a hyphen/],
  ['a@example-.com', /ends with a hyphen/],
  ['a@p\u0430ypal.com', /^mixed scripts in domain label \(lookalike\)$/], // Cyrillic а
  ['a@xn--pypal-4ve.com', /^mixed scripts in domain label \(lookalike\)$/], // the same, as an A-label
  ['a@g\u03bfogle.com', /mixed scripts/], // Greek ο
  ['josé@example.com', /SMTPUTF8/],
  ['用户@例子.中国', /SMTPUTF8/],
  ['a@xn--zz.com', /invalid punycode label/],
];

describe('checkAddress', () => {
  for (const [input, address] of accepted) {
    test(`accepts ${JSON.stringify(input)}`, () => {
      const r = checkAddress(input);
      assert.deepEqual(r, { ok: true, address, key: address.toLowerCase() });
    });
  }
  for (const [input, reason] of rejected) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      const r = checkAddress(input);
      assert.equal(r.ok, false, `accepted as ${JSON.stringify(r)}`);
      if (!r.ok) assert.match(r.reason, reason);
    });
  }

  test('the fast path agrees with the detailed checks', () => {
    const inputs = [
      ...accepted.map(([a]) => a),
      ...rejected.map(([a]) => a),
      'UPPER@EXAMPLE.ORG',
      'x@a-b-c.example.museum',
      'x@example.c0m',
      'x@1example.com',
      'x@example.xn--p1ai',
      `${'a'.repeat(63)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.com`,
    ];
    for (const input of inputs) assert.deepEqual(checkAddress(input), checkAddressSlowPath(input), input);
  });

  test('the key lower-cases the local part, the address keeps its case', () => {
    const r = checkAddress('John.Doe@EXAMPLE.com');
    assert.ok(r.ok);
    assert.equal(r.address, 'John.Doe@example.com');
    assert.equal(r.key, 'john.doe@example.com');
  });
});

describe('hasMixedScripts', () => {
  test('single-script labels and the CJK combinations of UTS #39 pass', () => {
    assert.equal(hasMixedScripts('例子'), false);
    assert.equal(hasMixedScripts('пример'), false);
    assert.equal(hasMixedScripts('ソニー銀行'), false); // Katakana + Han (+ Common ー)
    assert.equal(hasMixedScripts('abc漢字'), false); // Latin + Han
    assert.equal(hasMixedScripts('한국abc'), false); // Hangul + Latin
    assert.equal(hasMixedScripts('bücher-2'), false); // Latin with digits and a hyphen
  });
  test('Latin with Cyrillic or Greek does not', () => {
    assert.equal(hasMixedScripts('p\u0430ypal'), true);
    assert.equal(hasMixedScripts('\u0430pple'), true);
    assert.equal(hasMixedScripts('micr\u03bfsoft'), true);
    assert.equal(hasMixedScripts('пример例'), true); // Cyrillic + Han
  });
});

test('full-width characters typed with a Chinese input method are named, not "missing @"', () => {
  for (const [a, ch] of [['zhang＠example.com', '＠'], ['a@example，com', '，'], ['a@example．com', '．'], ['a@example.com\u3000', 'space']]) {
    assert.deepEqual(checkAddress(a), { ok: false, reason: `full-width '${ch}' in the address: write it in ASCII` });
  }
});

test('an invisible character (zero-width space, soft hyphen, direction mark) is refused wherever it is, not dropped from a domain', () => {
  for (const [a, cp] of [['a\u200b@example.com', '200B'], ['b@exa\u200bmple.com', '200B'], ['c@ex\u00adample.com', '00AD'], ['d@example.com\u202e', '202E']]) {
    const r = checkAddress(a);
    assert.ok(!r.ok && r.reason.startsWith(`invisible character U+${cp} in the address`), `${JSON.stringify(a)}: ${JSON.stringify(r)}`);
  }
});
