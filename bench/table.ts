// The bench's verdicts and its table: ratios computed within the run (absolute figures vary
// between machines, ratios much less), the acceptance targets of issue 6 checked one by one,
// and a Markdown table that bench/RESULTS.md and the README can take as printed.

export interface Measurement {
  id: string;
  what: string;
  n: number;
  seconds: number;
  perSecond: number;
  peakRssMb: number;
  /** Messages counted by smtp-sink (network runs). */
  sinkCount?: number;
  note?: string;
  [k: string]: unknown;
}

export interface Startup {
  versionMs: number;
  validateExampleMs: number;
}

export interface Target {
  target: string;
  value: string;
  ok: boolean;
}

export interface Verdicts {
  ratios: Record<string, number>;
  acceptance: Target[];
}

const by = (ms: Measurement[], id: string) => ms.find((m) => m.id === id);
const fmt = (x: number, d = 0) => x.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d });
/** A difference in MB with its sign ("+3", "−2", "0"). */
const delta = (d: number) => {
  const r = Math.round(d);
  return r > 0 ? `+${r}` : r < 0 ? `−${-r}` : '0';
};

export function verdicts(ms: Measurement[], s: Startup): Verdicts {
  const ratios: Record<string, number> = {};
  const acceptance: Target[] = [];
  const send = by(ms, 'send-10000');
  const ceil = by(ms, 'ceiling-10000');
  const base = by(ms, 'baseline-10000');
  if (send && ceil) ratios['send-10000 / ceiling-10000'] = send.perSecond / ceil.perSecond;
  if (send && base) ratios['send-10000 / baseline-10000'] = send.perSecond / base.perSecond;
  const edited = by(ms, 'send-10000-edited');
  if (edited && base) ratios['send-10000-edited / baseline-10000'] = edited.perSecond / base.perSecond;
  const send2 = by(ms, 'send-100000');
  const ceil2 = by(ms, 'ceiling-100000');
  if (send2 && ceil2) ratios['send-100000 / ceiling-100000'] = send2.perSecond / ceil2.perSecond;
  if (send2 && base) ratios['send-100000 / baseline-10000'] = send2.perSecond / base.perSecond;

  if (send) {
    acceptance.push({ target: 'send, N=10,000: ≥ 3,000 msg/s', value: `${fmt(send.perSecond)} msg/s`, ok: send.perSecond >= 3000 });
    if (ceil) {
      const r = send.perSecond / ceil.perSecond;
      acceptance.push({ target: 'send, N=10,000: ≥ 25% of the ceiling', value: `${fmt(100 * r, 1)}%`, ok: r >= 0.25 });
    }
    if (base) {
      const r = send.perSecond / base.perSecond;
      // Two decimals: 5.97× would print as a "6.0×" that is not met.
      acceptance.push({ target: 'send, N=10,000: ≥ 6× the baseline', value: `${fmt(r, 2)}×`, ok: r >= 6 });
    }
  }
  const rc = by(ms, 'render-compose-100000') ?? by(ms, 'render-compose-20000');
  if (rc) acceptance.push({ target: `render + compose (N=${fmt(rc.n)}): ≥ 8,000 msg/s`, value: `${fmt(rc.perSecond)} msg/s`, ok: rc.perSecond >= 8000 });
  if (send) acceptance.push({ target: 'peak RSS, send N=10,000: ≤ 150 MB', value: `${fmt(send.peakRssMb)} MB`, ok: send.peakRssMb <= 150 });
  const rcM = by(ms, 'render-compose-1000000');
  const rc10 = by(ms, 'render-compose-10000');
  if (rcM && send) {
    const d = rcM.peakRssMb - send.peakRssMb;
    acceptance.push({ target: 'peak RSS at 1,000,000 (render + compose) ≤ send at 10,000 + 30 MB', value: `${fmt(rcM.peakRssMb)} MB (${delta(d)} MB)`, ok: d <= 30 });
  }
  if (rcM && rc10) {
    const d = rcM.peakRssMb - rc10.peakRssMb;
    acceptance.push({ target: 'peak RSS, render + compose: 1,000,000 ≤ 10,000 + 30 MB', value: `${fmt(rcM.peakRssMb)} MB vs ${fmt(rc10.peakRssMb)} MB (${delta(d)} MB)`, ok: d <= 30 });
  }
  const val = by(ms, 'validate-1000000');
  if (val) {
    acceptance.push({ target: 'validate, 1,000,000 rows: all 3 bad rows found', value: `${val.found} of 3`, ok: val.found === 3 });
    acceptance.push({ target: 'validate, 1,000,000 rows: peak RSS < 200 MB (issue 4)', value: `${fmt(val.peakRssMb)} MB`, ok: val.peakRssMb < 200 });
  }
  acceptance.push({ target: '`mailcamp --version` ≤ 150 ms', value: `${fmt(s.versionMs)} ms`, ok: s.versionMs <= 150 });
  acceptance.push({ target: '`mailcamp validate` of the newsletter example ≤ 1 s', value: `${fmt(s.validateExampleMs)} ms`, ok: s.validateExampleMs <= 1000 });
  return { ratios, acceptance };
}

export interface Results {
  date: string;
  machine: Record<string, string | number>;
  quick: boolean;
  messageBytes: number;
  measurements: Measurement[];
  startup: Startup;
  ratios: Record<string, number>;
  acceptance: Target[];
}

/** The run as Markdown: measurements, ratios, acceptance. */
export function printTable(r: Results): string {
  const m = r.machine;
  const lines = [
    `mailcamp bench, ${r.date.slice(0, 10)}, ${m.cpu} (${m.cores} cores), ${m.memoryGb} GB, ${m.os}, node ${m.node}` + (r.quick ? ' (--quick)' : ''),
    `message: ~${fmt(r.messageBytes / 1024, 1)} KB (≈22 KB MJML-compiled HTML + text, 8 KB PDF), a third of the names non-ASCII`,
    '',
    '| measurement | N | messages/s | seconds | peak RSS | checked |',
    '|---|--:|--:|--:|--:|---|',
  ];
  for (const x of r.measurements) {
    const checked = x.note ?? (x.sinkCount !== undefined ? `sink counted ${fmt(x.sinkCount)}` : '');
    lines.push(`| ${x.what} | ${fmt(x.n)} | ${fmt(x.perSecond)} | ${fmt(x.seconds, 2)} | ${fmt(x.peakRssMb)} MB | ${checked} |`);
  }
  lines.push(`| \`mailcamp --version\` (median of 11) | | | ${fmt(r.startup.versionMs / 1000, 3)} | | |`);
  lines.push(`| \`mailcamp validate examples/newsletter\` (median of 5) | | | ${fmt(r.startup.validateExampleMs / 1000, 3)} | | |`);
  lines.push('', '| ratio | value |', '|---|--:|');
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`| ${k} | ${k.includes('ceiling') ? `${fmt(100 * v, 1)}%` : `${fmt(v, 2)}×`} |`);
  lines.push('', '| target (issue 6) | measured | met |', '|---|--:|:-:|');
  for (const a of r.acceptance) lines.push(`| ${a.target} | ${a.value} | ${a.ok ? 'yes' : '**no**'} |`);
  return lines.join('\n') + '\n';
}
