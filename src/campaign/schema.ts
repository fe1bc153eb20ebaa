// Small typed readers over positioned YAML nodes. Each reader reports a wrong type at the
// value's line:col (`rate.per_second must be a positive number`) and returns undefined, so
// validation goes on and every problem is reported at once.

import type { Diagnostics } from '../shared/diagnostics.js';
import { MailcampError } from '../shared/errors.js';
import { type Env, interpolate } from './env.js';
import { unknownKeyMessage } from './suggest.js';
import type { PNode, Pos } from './yaml.js';

export type MapNode = Extract<PNode, { kind: 'map' }>;

export class SchemaReader {
  constructor(
    readonly diag: Diagnostics,
    readonly env: Env,
    /** The `.env` file that was (or would be) read, as shown in "not set" errors. */
    readonly dotEnvFile?: string,
  ) {}

  error(msg: string, pos: Pos): void {
    this.diag.error(msg, pos);
  }

  /** Reports keys not in `known`, with a suggestion. */
  checkKeys(map: MapNode, known: readonly string[], where: string): void {
    for (const [k, { keyPos }] of map.entries) {
      if (!known.includes(k)) this.error(unknownKeyMessage(where, k, known), keyPos);
    }
  }

  map(n: PNode | undefined, name: string): MapNode | undefined {
    if (!n || isNull(n)) return undefined;
    if (n.kind !== 'map') {
      this.error(`${name} must be a mapping`, n.pos);
      return undefined;
    }
    return n;
  }

  /** A string (numbers are accepted and stringified), with `${VAR}` interpolated. */
  str(n: PNode | undefined, name: string, opts: { secret?: boolean; env?: boolean; url?: boolean } = {}): string | undefined {
    if (!n || isNull(n)) return undefined;
    if (n.kind !== 'scalar' || typeof n.value === 'boolean') {
      this.error(`${name} must be a string`, n.pos);
      return undefined;
    }
    const raw = String(n.value);
    if (opts.env === false) return raw;
    try {
      return interpolate(raw, this.env, { ...opts, dotEnvFile: this.dotEnvFile });
    } catch (e) {
      if (e instanceof MailcampError) {
        this.error(`${name}: ${e.message}`, n.pos);
        return undefined;
      }
      throw e;
    }
  }

  number(
    n: PNode | undefined,
    name: string,
    opts: { min?: number; integer?: boolean; positive?: boolean } = {},
  ): number | undefined {
    if (!n || isNull(n)) return undefined;
    const value = this.scalarWithEnv(n, name);
    if (value === null) return undefined;
    const v = typeof value === 'number' ? value : typeof value === 'string' && n.kind === 'scalar' && value !== n.value && value.trim() !== '' ? Number(value) : Number.NaN;
    const kind = opts.integer ? (opts.positive ? 'a positive whole number' : 'a whole number') : 'a positive number';
    if (
      !Number.isFinite(v) ||
      (opts.integer && !Number.isInteger(v)) ||
      (opts.positive && v <= 0) ||
      (opts.min !== undefined && v < opts.min)
    ) {
      this.error(`${name} must be ${kind}${opts.min !== undefined && !opts.positive ? ` ≥ ${opts.min}` : ''}`, n.pos);
      return undefined;
    }
    return v;
  }

  bool(n: PNode | undefined, name: string): boolean | undefined {
    if (!n || isNull(n)) return undefined;
    const value = this.scalarWithEnv(n, name);
    if (value === null) return undefined;
    if (typeof value === 'boolean') return value;
    if (n.kind === 'scalar' && value !== n.value && /^(true|false)$/i.test(String(value).trim())) return /^true$/i.test(String(value).trim());
    this.error(`${name} must be true or false`, n.pos);
    return undefined;
  }

  /**
   * A scalar's value, with `${VAR}` interpolated when it is a string that holds one (design.md:
   * replaced after parsing, so `concurrency: ${CONC}` works); null after reporting a missing variable.
   */
  private scalarWithEnv(n: PNode, name: string): string | number | boolean | undefined | null {
    if (n.kind !== 'scalar') return undefined;
    if (typeof n.value !== 'string' || !n.value.includes('${')) return n.value as string | number | boolean;
    try {
      return interpolate(n.value, this.env, { dotEnvFile: this.dotEnvFile });
    } catch (e) {
      if (e instanceof MailcampError) {
        this.error(`${name}: ${e.message}`, n.pos);
        return null;
      }
      throw e;
    }
  }

  /** A duration: `2s`, `500ms`, `5m`, `1h`, `1d`, or a number of seconds. */
  duration(n: PNode | undefined, name: string): number | undefined {
    if (!n || isNull(n)) return undefined;
    if (n.kind === 'scalar') {
      const value = this.scalarWithEnv(n, name);
      if (value === null) return undefined;
      const ms = parseDuration(value as typeof n.value);
      if (ms !== undefined) return ms;
    }
    this.error(`${name} must be a duration like 500ms, 2s, 5m or 1h`, n.pos);
    return undefined;
  }

  stringMap(n: PNode | undefined, name: string): Record<string, { value: string; pos: Pos }> {
    const out: Record<string, { value: string; pos: Pos }> = {};
    const m = this.map(n, name);
    if (!m) return out;
    for (const [k, { node }] of m.entries) {
      const v = this.str(node, `${name}.${k}`);
      if (v !== undefined) out[k] = { value: v, pos: node.pos };
    }
    return out;
  }
}

export function isNull(n: PNode): boolean {
  return n.kind === 'scalar' && n.value === null;
}

export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return v >= 0 && Number.isFinite(v) ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) return undefined;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms'];
  return Number(m[1]) * mult;
}
