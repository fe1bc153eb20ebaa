// The commander program. main(argv, io) is what tests call; it returns the exit code and
// never calls process.exit. All user-facing wording lives under cli/.

import { Command, CommanderError } from 'commander';
import { formatDiagnostic, ValidationError } from '../shared/diagnostics.js';
import { exitCodeFor, MailcampError } from '../shared/errors.js';
import { redact } from '../shared/secrets.js';
import { err, type Io, plural } from './io.js';
import { VERSION } from './version.js';

type Register = (program: Command, io: Io, setExit: (n: number) => void) => void;

/**
 * The commands, in the order `--help` lists them. A command's module (and all it imports:
 * SQLite, SMTP, Handlebars, IMAP …) is loaded only when that command runs, or every one for
 * help and unknown commands: `mailcamp --version` loads none (issue 6: start-up ≤ 150 ms).
 */
const COMMANDS: [name: string, load: () => Promise<{ register: Register }>][] = [
  ['validate', () => import('./validate.js')],
  ['preview', () => import('./preview.js')],
  ['send', () => import('./send.js')],
  ['status', () => import('./status.js')],
  ['bounces', () => import('./bounces.js')],
  ['inbox', () => import('./inbox.js')],
  ['suppress', () => import('./suppress.js')],
  ['schedule', () => import('./schedule.js')],
  ['dev-server', () => import('./dev-server.js')],
  ['init', () => import('./init.js')],
];

function commandsFor(argv: string[]): typeof COMMANDS {
  const name = argv.find((a) => !a.startsWith('-'));
  const one = COMMANDS.filter(([n]) => n === name);
  if (one.length) return one;
  if (name === undefined && argv.length > 0 && argv.every((a) => a === '-V' || a === '--version')) return [];
  return COMMANDS;
}

export async function main(argv: string[], io: Io): Promise<number> {
  let code = 0;
  const setExit = (n: number) => (code = n);
  const program = new Command('mailcamp')
    .description('Declarative, templated mail campaigns: YAML + MJML/Handlebars + CSV → MIME → SMTP, with a journal and a report.')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      // One line per error (design.md): commander puts its suggestion on a line of its own.
      writeErr: (s) => io.stderr.write(redact(oneLine(s))),
    })
    .addHelpText(
      'after',
      `
Exit codes: 0 all delivered (or rendered), 1 some failed/deferred/unknown, 2 invalid input or usage
(nothing sent), 3 fatal transport error (or a full disk mid-run), 130 interrupted (resumable), 70 a bug in mailcamp.
Examples:
  mailcamp validate campaigns/welcome.yaml
  mailcamp send campaigns/welcome.yaml --dry-run
  mailcamp send campaigns/welcome.yaml --transport smtp://user:\${SMTP_PASS}@smtp.example.com:587 --yes`,
    );
  for (const [, load] of commandsFor(argv)) (await load()).register(program, io, setExit);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    const exit = report(e, argv, io);
    // `send --json` / `status --json` promise one JSON document on stdout: a script parsing it
    // gets the error too, not an empty stdout.
    if (exit.code !== 0 && JSON_SUMMARY.has(argv.find((a) => !a.startsWith('-')) ?? '') && argv.includes('--json')) {
      const lines = exit.lines.map(redact);
      io.stdout.write(JSON.stringify({ error: lines[0] ?? 'error', errors: lines, exit_code: exit.code }) + '\n');
    }
    return exit.code;
  }
}

/** Commands whose `--json` output is a single summary object. */
const JSON_SUMMARY = new Set(['send', 'status']);

/** Prints what went wrong (stderr) and gives the exit code, and the lines that name the problems. */
function report(e: unknown, argv: string[], io: Io): { code: number; lines: string[] } {
  if (e instanceof CommanderError) {
    // Help asked for: 0. Help shown because no command was given (commander's exit code 1): usage error.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return { code: e.exitCode === 0 ? 0 : 2, lines: [] };
    return { code: 2, lines: [oneLine(e.message).trim().replace(/^error: /, '')] };
  }
  if (e instanceof ValidationError) {
    const d = e.diagnostics;
    for (const x of d.errors) err(io, formatDiagnostic(x));
    if (d.errorCount > d.errors.length) err(io, `… and ${d.errorCount - d.errors.length} more errors`);
    for (const x of d.warnings) err(io, formatDiagnostic(x));
    if (d.warningCount > d.warnings.length) err(io, `… and ${d.warningCount - d.warnings.length} more warnings`);
    const command = argv.find((a) => !a.startsWith('-'));
    const nothing = command === 'bounces' || command === 'inbox' ? 'nothing was read or changed' : 'nothing was sent';
    err(io, `${plural(d.errorCount, 'error')}, ${plural(d.warningCount, 'warning')}; ${nothing}`);
    return { code: 2, lines: d.errors.map(formatDiagnostic) };
  }
  if (e instanceof MailcampError) {
    err(io, e.toString());
    if (e.hint) err(io, `hint: ${e.hint}`);
    return { code: exitCodeFor(e), lines: [e.toString()] };
  }
  err(io, 'internal error: this is a bug in mailcamp; please report it with the lines below');
  err(io, redact((e as Error)?.stack ?? String(e)));
  return { code: 70, lines: [`internal error: ${redact((e as Error)?.message ?? String(e))}`] };
}

/** `error: unknown command 'sned'\n(Did you mean send?)` → `error: unknown command 'sned'; did you mean send?` */
function oneLine(s: string): string {
  return s.replace(/\n\(Did you mean (.*)\?\)/, '; did you mean $1?');
}
