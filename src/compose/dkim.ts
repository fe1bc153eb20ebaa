// DKIM signing (RFC 6376) through nodemailer's signer: relaxed/relaxed canonicalization,
// rsa-sha256. The key is read and checked once per campaign; a key that does not parse, or is
// not RSA, is an error at `dkim.private_key` (nodemailer signs with RSA-SHA256 only: an Ed25519
// key left every message unsigned without a word, an EC key gave signatures no verifier takes).

import crypto from 'node:crypto';
import fs from 'node:fs';
import DKIM from 'nodemailer/lib/dkim';
import type { Campaign } from '../campaign/types.js';
import { MailcampError } from '../shared/errors.js';

export type Signer = (raw: Buffer) => Promise<Buffer>;

/**
 * nodemailer's list (RFC 6376 §5.4.1's) plus List-Unsubscribe-Post: RFC 8058 §4 requires the
 * signature to cover both List-Unsubscribe and List-Unsubscribe-Post for one-click.
 */
const SIGNED_HEADERS =
  'From:Sender:Reply-To:Subject:Date:Message-ID:To:Cc:MIME-Version:Content-Type:Content-Transfer-Encoding:' +
  'Content-ID:Content-Description:Resent-Date:Resent-From:Resent-Sender:Resent-To:Resent-Cc:Resent-Message-ID:' +
  'In-Reply-To:References:List-Id:List-Help:List-Unsubscribe:List-Unsubscribe-Post:List-Subscribe:List-Post:' +
  'List-Owner:List-Archive';

export function dkimSigner(c: Campaign): Signer | undefined {
  if (!c.dkim) return undefined;
  const where = { file: c.displayFile, line: c.pos.dkim?.line, col: c.pos.dkim?.col };
  let pem: string | undefined;
  let type: string | undefined;
  try {
    pem = fs.readFileSync(c.dkim.privateKey, 'utf8');
    type = crypto.createPrivateKey(pem).asymmetricKeyType;
  } catch (e) {
    const why =
      pem === undefined
        ? (e as Error).message
        : /-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)
          ? 'it is a public key; private_key needs the private key (the public one goes in DNS)'
          : /ENCRYPTED/.test(pem)
            ? 'it is encrypted with a passphrase; mailcamp needs it unencrypted (openssl pkey -in key.pem -out plain.pem)'
            : !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)
              ? 'it holds no PEM private key (-----BEGIN PRIVATE KEY-----)'
              : (e as Error).message;
    throw new MailcampError('INPUT', `dkim.private_key is not a usable private key: ${why}`, where);
  }
  if (type !== 'rsa') {
    throw new MailcampError('INPUT', `dkim.private_key is an ${type ?? 'unknown'} key; mailcamp signs with rsa-sha256 only (an RSA key of 1024 bits or more, 2048 recommended)`, where);
  }
  const signer = new DKIM({ domainName: c.dkim.domain, keySelector: c.dkim.selector, privateKey: pem, headerFieldNames: SIGNED_HEADERS });
  return (raw) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const out = signer.sign(raw);
      out.on('data', (b: Buffer) => chunks.push(b));
      out.on('end', () => resolve(Buffer.concat(chunks)));
      out.on('error', reject);
    });
}
