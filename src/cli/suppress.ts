// `mailcamp suppress list|add|remove`: the suppression list by hand. The list lives in the
// state folder (`.mailcamp/suppression`), found from the current folder the way a campaign
// finds it (the nearest `.mailcamp/` above), or from `--for FILE` (a campaign or mailbox
// file), or given with `--state DIR`.

import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { checkAddress, reasonForArgument } from '../recipients/address.js';
import { MailcampError } from '../shared/errors.js';
import { ensureStateDir, findStateDir } from '../state/folder.js';
import { openSuppression, suppressionFile } from '../state/suppression.js';
import { err, type Io, out } from './io.js';

interface Where {
  state?: string;
  for?: string;
}

function stateDirOf(io: Io, w: Where): string {
  if (w.state) return path.resolve(io.cwd, w.state);
  if (w.for) {
    const file = path.resolve(io.cwd, w.for);
    if (!fs.existsSync(file)) throw new MailcampError('USAGE', `--for: no such file: ${w.for}`);
    return findStateDir(path.dirname(file));
  }
  return findStateDir(io.cwd);
}

export function register(program: Command, io: Io, setExit: (n: number) => void): void {
  const cmd = program
    .command('suppress')
    .description('show or edit the suppression list (addresses that send and validate skip)');
  const whereOptions = (c: Command) =>
    c
      .option('--state <dir>', 'state folder (default: nearest .mailcamp/ above the current folder)')
      .option('--for <file>', 'the state folder a campaign or mailbox file uses');

  whereOptions(
    cmd
      .command('list')
      .description('one address per line, then its reason and date')
      .option('--json', 'one JSON object per address'),
  ).action((f: Where & { json?: boolean }) => {
    const dir = stateDirOf(io, f);
    if (!fs.existsSync(suppressionFile(dir))) {
      if (!f.json) out(io, `no suppression list yet (${suppressionFile(dir)})`);
      return;
    }
    const list = openSuppression(dir);
    try {
      for (const e of list.list()) {
        const at = new Date(e.at).toISOString();
        if (f.json) out(io, JSON.stringify({ address: e.address, kind: e.kind, reason: e.reason, source: e.source ?? null, at }));
        else out(io, `${e.address}\t${e.kind}: ${e.reason}\t${at}`);
      }
    } finally {
      list.close();
    }
  });

  whereOptions(
    cmd
      .command('add')
      .description('suppress addresses by hand')
      .argument('<address...>', 'addresses to suppress')
      .option('--reason <text>', 'why (shown in reports)', 'added by hand'),
  ).action((addresses: string[], f: Where & { reason: string }) => {
    const checked = addresses.map((a) => ({ raw: a, c: checkAddress(a) }));
    const bad = checked.filter((x) => !x.c.ok);
    if (bad.length) {
      throw new MailcampError('USAGE', bad.map((x) => `'${x.raw}': ${reasonForArgument((x.c as { reason: string }).reason, 'give each address as an argument of its own')}`).join('; '));
    }
    const dir = ensureStateDir(stateDirOf(io, f));
    const list = openSuppression(dir);
    try {
      for (const x of checked) {
        const before = list.get((x.c as { address: string }).address);
        if (before) err(io, `${before.address} was already suppressed (${before.kind}: ${before.reason}); that entry is replaced`);
      }
      const n = list.addAll(checked.map((x) => ({ address: (x.c as { address: string }).address, reason: f.reason, kind: 'manual' as const, source: 'manual' })));
      out(io, `suppressed ${n} address${n === 1 ? '' : 'es'} in ${list.file}`);
    } finally {
      list.close();
    }
  });

  whereOptions(
    cmd
      .command('remove')
      .description('take addresses off the suppression list (they will be mailed again)')
      .argument('<address...>', 'addresses to remove'),
  ).action((addresses: string[], f: Where) => {
    const dir = stateDirOf(io, f);
    if (!fs.existsSync(suppressionFile(dir))) throw new MailcampError('USAGE', `no suppression list in ${dir}`);
    const list = openSuppression(dir);
    let missing = 0;
    try {
      for (const a of addresses) {
        if (list.remove(a)) out(io, `removed ${a}`);
        else {
          out(io, `not on the list: ${a}`);
          missing++;
        }
      }
    } finally {
      list.close();
    }
    if (missing) setExit(1);
  });
}
