// When to try a delivery again, and what an SMTP error means for the recipient.
//
// The policy comes from the campaign's `retry: { attempts, initial_delay, max_delay }`.
// `attempts` counts every try, the first included: `attempts: 5` is one send and up to four
// retries. The delay doubles per failure and is capped at max_delay, with "equal jitter"
// (half fixed, half random; AWS Architecture Blog, "Exponential Backoff And Jitter", 2015):
// jitter spreads the retries of the many recipients that a single 421 or outage defers at the
// same moment, and the fixed half keeps a retry from landing right after a server said "later",
// which full jitter (anywhere in [0, cap)) allows. Decorrelated jitter would need the previous
// delay per recipient, and the journal keeps only the attempt count.
//
// classifySmtpError maps nodemailer SMTPConnection errors onto the journal's outcomes:
//   failed   - the server refused this message for good (RFC 5321 section 4.2.1: 5yz is permanent)
//   deferred - try again later (4yz is transient; connection trouble before the message was
//              handed over)
//   unknown  - the connection died after the final dot but before the reply: the server may
//              have delivered it (RFC 5321 section 4.1.1.4; RFC 1047 describes the duplicate
//              this causes), so it is not resent unless the user asks (--resend-unknown)
//   fatal    - nothing will work until the user changes something: authentication (RFC 4954
//              section 6: 530, 534, 535, 538), TLS and certificates, a server refusing the session
//              itself. The run stops (exit code 3).
// Shapes checked against nodemailer/dist/cjs/smtp-connection/index.js and errors.js: `code` is
// nodemailer's (ECONNECTION, ESOCKET, ETLS, EAUTH ...); a socket error keeps the system or TLS
// code in `originalCode` (a refused certificate during STARTTLS or implicit TLS arrives as
// code ESOCKET, originalCode DEPTH_ZERO_SELF_SIGNED_CERT); `responseCode` is the reply's number.

export interface RetryOptions {
  /** Tries in total, the first included; at least 1. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export class RetryPolicy {
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  private readonly random: () => number;

  constructor(opts: RetryOptions, random: () => number = Math.random) {
    // The campaign loader has validated user input already; these guard programming errors.
    if (!Number.isInteger(opts.attempts) || opts.attempts < 1) {
      throw new RangeError(`retry attempts must be a positive integer, got ${opts.attempts}`);
    }
    if (!(opts.initialDelayMs >= 0) || !(opts.maxDelayMs >= 0)) {
      throw new RangeError('retry delays must be non-negative');
    }
    this.attempts = opts.attempts;
    this.initialDelayMs = opts.initialDelayMs;
    this.maxDelayMs = Math.max(opts.maxDelayMs, 0);
    this.random = random;
  }

  /**
   * Milliseconds to wait after failure number `attempt` (1 = the first try failed): a whole
   * number in [base, min(maxDelay, 1.5 base)] where base = min(maxDelay, initialDelay *
   * 2^(attempt-1)). The jitter only adds, so `initial_delay` is the least a retry waits, as the
   * README says, and retries of many recipients deferred together still spread out.
   */
  delayFor(attempt: number): number {
    if (!Number.isInteger(attempt) || attempt < 1) {
      throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
    }
    // 2 ** 1100 is Infinity, which min() turns into the cap: no overflow to worry about.
    const base = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** (attempt - 1));
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.round(Math.min(this.maxDelayMs, base + (r * base) / 2));
  }

  /** Whether another try is allowed after `attemptsSoFar` tries (all of which failed). */
  shouldRetry(attemptsSoFar: number): boolean {
    return attemptsSoFar < this.attempts;
  }
}

export type SmtpOutcome = 'deferred' | 'failed' | 'unknown' | 'fatal';

export interface ClassifyOptions {
  /**
   * The whole message and the final `.` were written before the error: only a reply would
   * have told whether the server took it.
   */
  afterFinalDot?: boolean;
}

/** The fields nodemailer puts on its errors; all optional, anything may be thrown. */
interface SmtpErrorLike {
  code?: unknown;
  originalCode?: unknown;
  responseCode?: unknown;
  command?: unknown;
}

// Certificate verdicts as node reports them (OpenSSL X509_V_ERR_* names, see node's
// tls docs "X509 certificate error codes"), plus node's own hostname check.
const CERT_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

// Nodemailer codes that need the user: credentials, TLS, configuration, a missing extension.
const FATAL_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2', 'ETLS', 'EREQUIRETLS', 'ECONFIG']);

// RFC 4954 section 6 (530 authentication required, 534 mechanism too weak, 535 credentials
// invalid, 538 encryption required) and RFC 3207 section 4 (530 "Must issue a STARTTLS first").
const AUTH_REPLY_CODES = new Set([530, 534, 535, 538]);

// The message could not even be put on the wire (client-side checks, our own stream failing):
// retrying the same bytes gives the same result.
const MESSAGE_CODES = new Set(['EENVELOPE', 'EMESSAGE', 'ESTREAM', 'EMAXRECIPIENTS']);

// Commands whose rejection refuses the whole session, not this message (RFC 5321 section 3.1:
// a 554 greeting means "no SMTP service here"; EHLO/HELO and STARTTLS refusals likewise).
const SESSION_COMMANDS = new Set(['CONN', 'EHLO', 'HELO', 'LHLO', 'STARTTLS']);

// System errors of a connect() that did not reach the server.
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function stringField(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function isTlsCode(code: string | undefined): boolean {
  return !!code && (CERT_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'));
}

/** What an error from nodemailer's SMTPConnection means for the recipient it happened to. */
export function classifySmtpError(err: unknown, opts: ClassifyOptions = {}): SmtpOutcome {
  const e: SmtpErrorLike = typeof err === 'object' && err !== null ? (err as SmtpErrorLike) : {};
  const code = stringField(e.code);
  const originalCode = stringField(e.originalCode);
  const command = stringField(e.command);
  const reply = typeof e.responseCode === 'number' ? e.responseCode : undefined;

  if (isTlsCode(code) || isTlsCode(originalCode)) return 'fatal';
  if (code && FATAL_CODES.has(code)) return 'fatal';

  // A reply is a verdict, even after the final dot: it is the answer to the dot.
  if (reply !== undefined && reply >= 400 && reply < 600) {
    if (AUTH_REPLY_CODES.has(reply)) return 'fatal';
    if (reply >= 500) {
      if (command && (SESSION_COMMANDS.has(command) || command.startsWith('AUTH'))) return 'fatal';
      // 503 "bad sequence of commands" blames the session state, not the message: the same
      // message can go through on a new connection (nodemailer's isPermanentResponseCode agrees).
      if (reply === 503) return 'deferred';
      return 'failed';
    }
    // 4yz, 421 included: transient. After 421 the server closes the connection, and
    // needsReconnect() tells the caller to open a new one.
    return 'deferred';
  }

  if (code && MESSAGE_CODES.has(code)) return 'failed';

  // No connection was ever made, so nothing can have been handed over on it.
  if (code === 'EDNS' || (originalCode && NEVER_CONNECTED.has(originalCode))) return 'deferred';

  // Everything else broke the connection (ECONNECTION, ESOCKET, ETIMEDOUT, EDNS, EPROTOCOL,
  // EABORT, a raw ECONNRESET ...) or is not understood: whether the message got through
  // depends only on whether it had been handed over.
  return opts.afterFinalDot ? 'unknown' : 'deferred';
}

/**
 * Whether the connection that produced `err` is unusable: 421 (RFC 5321 section 3.8, the server
 * closes after it), a broken socket or timeout, or a reply out of protocol.
 */
export function needsReconnect(err: unknown): boolean {
  const e: SmtpErrorLike = typeof err === 'object' && err !== null ? (err as SmtpErrorLike) : {};
  if (e.responseCode === 421) return true;
  const code = stringField(e.code);
  return (
    code === 'ECONNECTION' ||
    code === 'ESOCKET' ||
    code === 'ETIMEDOUT' ||
    code === 'EPROTOCOL' ||
    code === 'ETLS' ||
    code === 'EABORT'
  );
}
