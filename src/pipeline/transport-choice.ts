// Which transport a send uses, and the Transport object for it: the campaign's `transport:`,
// `--transport URL` (with `${VAR}`s, so a password need not be on the command line), or, for a
// script that embeds mailcamp, its own Transport object (library use).

import type { Campaign } from '../campaign/types.js';
import { type Env, interpolate, loadDotEnv } from '../campaign/env.js';
import { emlName, OutboxTransport } from '../send/outbox.js';
import { SmtpTransport } from '../send/smtp.js';
import { parseTransportUrl, type TransportSpec } from '../send/transport-url.js';
import type { Transport } from '../send/transport.js';
import type { Clock } from '../shared/clock.js';
import { MailcampError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** Where a send goes: a transport URL's, or an embedding script's own Transport. */
export type SendSpec = TransportSpec | { kind: 'custom'; transport: Transport };

/** The transport of a send, as given (`o.transport`) or the campaign's; `transportUrl` as shown (a custom one: its description). */
export function chooseTransport(given: string | Transport | undefined, c: Campaign, cwd: string, env: Env | undefined): { transportUrl: string; spec: SendSpec } {
  if (given !== undefined && typeof given !== 'string' && !isTransport(given)) {
    throw new MailcampError('USAGE', 'transport must be a URL, or an object with description, open(), send(), close() and abort() (see Transport)');
  }
  if (typeof given === 'object') return { transportUrl: given.description, spec: { kind: 'custom', transport: given } };
  const transportUrl = given !== undefined ? interpolateFlag(given, { ...loadDotEnv(c.dir), ...(env ?? process.env) }) : (c.transport ?? 'outbox');
  try {
    return { transportUrl, spec: parseTransportUrl(transportUrl, given ? cwd : c.dir) };
  } catch (e) {
    if (e instanceof MailcampError) throw new MailcampError('USAGE', `--transport: ${e.message}`);
    throw e;
  }
}

export function makeTransport(
  spec: SendSpec,
  o: { c: Campaign; outDir?: string; logger: Logger; debug?: boolean; ca?: Buffer | string; clock: Clock },
): Transport {
  if (spec.kind === 'custom') return spec.transport;
  if (spec.kind === 'outbox') {
    return new OutboxTransport(o.outDir!, (msg) => msg.label ?? emlName(0, msg.envelope.to.join('_')));
  }
  return new SmtpTransport(spec, {
    poolSize: o.c.concurrency,
    logger: o.logger,
    debug: o.debug,
    ca: o.ca,
    clock: o.clock,
    reconnectDelayMs: Math.max(o.c.retry.initialDelayMs, 100),
    reconnectAttempts: o.c.retry.attempts,
    maxReconnectDelayMs: o.c.retry.maxDelayMs,
  });
}

function interpolateFlag(value: string, env: Env): string {
  try {
    return interpolate(value, env, { secret: true, url: true });
  } catch (e) {
    if (e instanceof MailcampError) throw new MailcampError('USAGE', `--transport: ${e.message}`);
    throw e;
  }
}

function isTransport(t: unknown): t is Transport {
  const x = t as Partial<Record<keyof Transport, unknown>> | null;
  return typeof x === 'object' && x !== null && typeof x.description === 'string' && ['open', 'send', 'close', 'abort'].every((k) => typeof x[k as keyof Transport] === 'function');
}
