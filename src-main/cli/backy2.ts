// backy2 compatibility of the command line: its machine output (`-m`) and its spellings of
// commands and options, rewritten into Blockvault's before parsing. The backy2 commands
// (initdb, auto-tags, import-backy2) are in backy2-commands.ts.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { BackupStats, Version } from '../../src-shared/model';
import { escapeField } from '../../src-shared/api/format';

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Local time as backy2 prints it: `YYYY-MM-DD HH:MM:SS` and, with micro, `.ffffff`. */
export function localDate(date: Date, micro: boolean): string {
  const text = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return micro ? `${text}.${pad(date.getMilliseconds() * 1000, 6)}` : text;
}

/** A field of a machine line never holds `|` or a line break (see escapeField). */
const field = (value: string | number): string => escapeField(String(value));

/** `version|DATE|NAME|SNAPSHOT|SIZE_BLOCKS|SIZE_BYTES|UID|VALID|PROTECTED|TAGS`, as backy2's `-m ls`. */
export function versionLine(v: Version): string {
  const tags = [...v.tags].sort().join(',');
  return ['version', localDate(new Date(v.date), true), v.name, v.snapshot, v.blocks, v.size, v.uid, v.valid ? 1 : 0, v.protected ? 1 : 0, tags].map(field).join('|');
}

/** backy2's `-m stats` line: `statistics|DATE|UID|NAME|SIZE_BYTES|SIZE_BLOCKS|BYTES_READ|...|DURATION_SECONDS`. */
export function statsLine(s: BackupStats): string {
  return [
    'statistics', localDate(new Date(s.date), false), s.uid, s.name, s.sizeBytes, s.sizeBlocks, s.bytesRead, s.blocksRead,
    s.bytesWritten, s.blocksWritten, s.bytesDedup, s.blocksDedup, s.bytesSparse, s.blocksSparse, Math.round(s.durationMs / 1000),
  ].map(field).join('|');
}

/** backy2's process title text of a job: `Backup <uid>`, `Scrub <uid>`, as in `blockvault [Backup <uid> 12.3%]`. */
export function processTitle(label: string, job: { params: Record<string, unknown> }): string {
  const word = label.charAt(0).toUpperCase() + label.slice(1);
  const { uid, uids } = job.params;
  if (typeof uid === 'string') return `${word} ${uid}`;
  if (Array.isArray(uids) && uids.length > 0) return uids.length === 1 ? `${word} ${String(uids[0])}` : `${word} ${uids.length} versions`;
  return word;
}

// ---- backy2's spellings, rewritten into Blockvault's before the command line is parsed

/** Options of the main CLI that take a value (their values are not the command word). */
const GLOBAL_VALUE_OPTIONS = new Set(['--repo', '--log-file', '--passphrase-file', '--key-file']);

/** `file://PATH` is PATH; `rbd://POOL/IMAGE@SNAP` is `rbd:POOL/IMAGE@SNAP`. */
export function fromBacky2Url(text: string): string {
  if (text.startsWith('file://')) return text.slice('file://'.length);
  if (text.startsWith('rbd://')) return `rbd:${text.slice('rbd://'.length)}`;
  return text;
}

/**
 * Rewrites backy2's spellings into Blockvault's: global `--machine-output` (as `-m`), its
 * `-s/--skip-header` and `-r/--human-readable` (machine lines have no header and raw numbers),
 * `cleanup -f` and `--dangerous-force`, `export UID FILE`, `import FILE`, `backup -t a,b`, and
 * `file://` / `rbd://` sources and targets. Blockvault's own spellings pass unchanged.
 */
export function backy2Argv(argv: string[], commands: Record<string, { options: NonNullable<ParseArgsConfig['options']> }>): string[] {
  let commandAt = -1;
  for (let i = 0; i < argv.length; i++) {
    if (GLOBAL_VALUE_OPTIONS.has(argv[i])) { i++; continue; }
    if (!argv[i].startsWith('-')) { commandAt = i; break; }
  }
  const before = (commandAt < 0 ? argv : argv.slice(0, commandAt)).flatMap((arg) => {
    if (arg === '--machine-output') return ['-m'];
    if (arg === '-s' || arg === '--skip-header' || arg === '-r' || arg === '--human-readable') return [];
    if (arg === '-ms' || arg === '-sm') return ['-m'];
    return [arg];
  });
  if (commandAt < 0) return before;
  const name = argv[commandAt];
  const command = commands[name];
  const args = argv.slice(commandAt + 1);
  if (!command || args.includes('--help') || args.includes('-h')) return [...before, name, ...args];
  const options = {
    repo: { type: 'string' }, 'log-file': { type: 'string' }, 'passphrase-file': { type: 'string' }, 'key-file': { type: 'string' },
    ...command.options,
  } as const;
  let tokens;
  try {
    tokens = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true }).tokens;
  } catch {
    return [...before, name, ...args]; // the real parse reports it
  }
  const positionals = tokens.filter((t) => t.kind === 'positional');
  const optionTokens = tokens.filter((t) => t.kind === 'option');
  const has = (option: string): boolean => optionTokens.some((t) => t.name === option);
  const out = [...args];
  const replace: Array<{ at: number; count: number; with: string[] }> = [];
  switch (name) {
    case 'cleanup':
      for (const t of optionTokens) {
        if (t.rawName === '-f') replace.push({ at: t.index, count: 1, with: ['--full'] });
        if (t.rawName === '--dangerous-force') replace.push({ at: t.index, count: 1, with: ['--grace-seconds', '0'] });
      }
      break;
    case 'export':
      if (!has('file') && positionals.length >= 2) {
        const last = positionals[positionals.length - 1];
        replace.push({ at: last.index, count: 1, with: ['-f', last.value] });
      }
      break;
    case 'import':
      if (!has('file') && positionals.length === 1) replace.push({ at: positionals[0].index, count: 1, with: ['-f', positionals[0].value] });
      break;
    case 'backup':
      if (positionals[0]) replace.push({ at: positionals[0].index, count: 1, with: [fromBacky2Url(positionals[0].value)] });
      for (const t of optionTokens) {
        if (t.name !== 'tag' || typeof t.value !== 'string' || !t.value.includes(',')) continue;
        const tags = t.value.split(',').map((tag) => tag.trim()).filter(Boolean);
        replace.push({ at: t.index, count: t.inlineValue ? 1 : 2, with: tags.flatMap((tag) => ['-t', tag]) });
      }
      break;
    case 'restore':
      if (positionals[1]) replace.push({ at: positionals[1].index, count: 1, with: [fromBacky2Url(positionals[1].value)] });
      break;
    case 'scrub':
      for (const t of optionTokens) {
        if (t.name === 'source' && typeof t.value === 'string' && !t.inlineValue) replace.push({ at: t.index + 1, count: 1, with: [fromBacky2Url(t.value)] });
      }
      break;
    default:
      break;
  }
  for (const edit of replace.sort((a, b) => b.at - a.at)) out.splice(edit.at, edit.count, ...edit.with);
  return [...before, name, ...out];
}
