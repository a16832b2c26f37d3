// backy2's metadata dumps and file data folder. A *dump* is what `backy2 export UID FILE`
// writes: CSV (Python's csv module: ',' separated, '"' quoted when needed, "\r\n" lines), a
// signature line `backy2 Version X metadata dump`, one version row, then one row per block.
//   2.1   version: uid,date,name,size,size_bytes,valid
//   2.2   version: uid,date,name,snapshot_name,size,size_bytes,valid,protected
//   2.10+ version: the 2.2 fields and expire (YYYY-MM-DD or empty)
//   block (2.1 to 2.10): uid,version_uid,id,date,checksum,size,valid
//   block (2.12):        the same and enc_version,enc_envkey,enc_nonce
// `size` of a version counts blocks, `size_bytes` bytes; dates are `YYYY-MM-DD HH:MM:SS`
// (read as local time, as backy2 printed them); an empty block uid is a sparse block.
// Several dumps may follow each other in one file (one per version, as `backy2 export` makes
// them). The *data folder* of backy2's file backend keeps each block at
// `<path>/<uid[0:2]>/<uid[2:4]>/<uid>.blob`, the plaintext when enc_version is 0.
import { createHash, getHashes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { escapeField } from '../../../src-shared/api/format';
import { EngineError } from '../errors';
import { blockvaultUid, type LegacyBlock, type LegacyDataReader, type LegacyVersion } from './legacy';

/** a field's escaping lives in src-shared: the CLI's machine lines use it too */
export { escapeField };

export const BACKY2_DUMP_VERSIONS = ['2.1', '2.2', '2.10', '2.12'] as const;
const SIGNATURE = /^backy2 Version (\S+) metadata dump$/;

function bad(message: string): EngineError {
  return new EngineError('BAD_EXPORT', `backy2 dump refused, nothing was changed: ${message}`);
}

/** Parses CSV as Python's csv module writes it (QUOTE_MINIMAL, "\r\n" or "\n" lines). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  let fieldStarted = false;
  const endField = (): void => { row.push(field); field = ''; fieldStarted = false; };
  const endRow = (): void => { endField(); rows.push(row); row = []; };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false;
        i++;
        continue;
      }
      field += ch;
      i++;
      continue;
    }
    if (ch === '"' && !fieldStarted) { quoted = true; fieldStarted = true; i++; continue; }
    if (ch === ',') { endField(); i++; continue; }
    if (ch === '\r' && text[i + 1] === '\n') { endRow(); i += 2; continue; }
    if (ch === '\n' || ch === '\r') { endRow(); i++; continue; }
    field += ch;
    fieldStarted = true;
    i++;
  }
  if (quoted) throw bad('the file ends inside a quoted field (truncated?)');
  if (field !== '' || row.length > 0) endRow();
  return rows;
}


/** Parses "YYYY-MM-DD HH:MM:SS[.ffffff]" as local time; ms since the epoch. */
export function parseBacky2Date(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) return NaN;
  const ms = m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0;
  const date = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  return date.getMonth() === Number(m[2]) - 1 ? date.getTime() : NaN;
}

export interface Backy2Version extends LegacyVersion {
  /** the dump format the version came in */
  dumpVersion: string;
  /** backy2's expiry date (YYYY-MM-DD), if it had one */
  expire: string | null;
}

function int(text: string, what: string, where: string): number {
  if (!/^\d+$/.test(text)) throw bad(`${where}: ${what} "${text}" is not a whole number`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw bad(`${where}: ${what} ${text} is too large`);
  return value;
}

function flag(text: string, what: string, where: string): boolean {
  if (text !== '0' && text !== '1') throw bad(`${where}: ${what} must be 0 or 1, is "${text}"`);
  return text === '1';
}

/** Parses one or more concatenated backy2 dumps; checks everything, changes nothing. */
export function parseBacky2Dump(text: string, file = 'dump'): Backy2Version[] {
  const rows = parseCsv(text.startsWith('\ufeff') ? text.slice(1) : text);
  const versions: Backy2Version[] = [];
  let current: Backy2Version | null = null;
  let ids = new Set<number>();
  let expectVersionRow = false;
  const finish = (): void => {
    if (current) current.blocks.sort((a, b) => a.idx - b.idx);
  };
  rows.forEach((fields, i) => {
    const where = `${file} line ${i + 1}`;
    if (fields.length === 1 && fields[0] === '') return; // blank line
    const signature = fields.length === 1 ? SIGNATURE.exec(fields[0]) : null;
    if (signature) {
      if (!(BACKY2_DUMP_VERSIONS as readonly string[]).includes(signature[1])) {
        throw bad(`${where}: dump format ${signature[1]} is unknown (known: ${BACKY2_DUMP_VERSIONS.join(', ')})`);
      }
      if (expectVersionRow) throw bad(`${where}: a dump without a version row`);
      finish();
      current = { dumpVersion: signature[1], expire: null } as Backy2Version;
      expectVersionRow = true;
      return;
    }
    if (!current) throw bad(`${where}: not a backy2 metadata dump (the first line must be "backy2 Version 2.x metadata dump")`);
    const format = current.dumpVersion;
    if (expectVersionRow) {
      const expected = format === '2.1' ? 6 : format === '2.2' ? 8 : 9;
      if (fields.length !== expected) throw bad(`${where}: a ${format} version row has ${expected} fields, this one ${fields.length}`);
      const [uid, date, name] = fields;
      const rest = format === '2.1' ? ['', ...fields.slice(3), '0'] : fields.slice(3);
      const [snapshot, size, sizeBytes, valid, prot, expire] = rest;
      if (!/^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$/.test(uid)) throw bad(`${where}: "${uid}" is not a version uid`);
      const parsedDate = parseBacky2Date(date);
      if (Number.isNaN(parsedDate)) throw bad(`${where}: date "${date}" is not YYYY-MM-DD HH:MM:SS`);
      if (expire && !/^\d{4}-\d{2}-\d{2}$/.test(expire)) throw bad(`${where}: expire "${expire}" is not YYYY-MM-DD`);
      if (versions.some((v) => v.legacyUid === uid)) throw bad(`${where}: version ${uid} appears twice`);
      Object.assign(current, {
        uid: blockvaultUid('backy2', uid), legacyUid: uid, name: escapeField(name), snapshot: escapeField(snapshot), date: parsedDate,
        sizeBlocks: int(size, 'size', where), sizeBytes: int(sizeBytes, 'size_bytes', where),
        valid: flag(valid, 'valid', where), protected: flag(prot, 'protected', where), tags: blockvaultUid('backy2', uid) === uid ? [] : [`backy2_uid=${uid}`], blocks: [], expire: expire || null,
      });
      versions.push(current);
      ids = new Set();
      expectVersionRow = false;
      return;
    }
    const expected = format === '2.12' ? 10 : 7;
    if (fields.length !== expected) throw bad(`${where}: a ${format} block row has ${expected} fields, this one ${fields.length}`);
    const [uid, versionUid, id, date, checksum, size, valid, encVersion] = fields;
    if (versionUid !== current.legacyUid) throw bad(`${where}: a block of version ${versionUid} inside the dump of ${current.legacyUid}`);
    const idx = int(id, 'block id', where);
    if (idx >= current.sizeBlocks) throw bad(`${where}: block ${idx} is past the version's ${current.sizeBlocks} blocks`);
    if (ids.has(idx)) throw bad(`${where}: block ${idx} appears twice`);
    ids.add(idx);
    if (Number.isNaN(parseBacky2Date(date))) throw bad(`${where}: date "${date}" is not YYYY-MM-DD HH:MM:SS`);
    flag(valid, 'valid', where);
    if (encVersion !== undefined && encVersion !== '' && encVersion !== '0') {
      throw new EngineError('FORMAT_UNSUPPORTED', `${where}: block ${idx} of version ${current.uid} is encrypted by backy2 (enc_version ${encVersion}); only unencrypted backy2 data (enc_version 0) can be migrated. Nothing was changed.`);
    }
    const sparse = uid === '';
    if (!sparse && !/^[0-9A-Za-z]{4,64}$/.test(uid)) throw bad(`${where}: "${uid}" is not a block uid`);
    if (!sparse && !/^[0-9a-f]{32,256}$/i.test(checksum)) throw bad(`${where}: checksum "${checksum}" is not hex`);
    const block: LegacyBlock = { idx, key: sparse ? null : uid, checksum: sparse ? null : checksum.toLowerCase(), size: int(size, 'size', where) };
    current.blocks.push(block);
  });
  if (expectVersionRow) throw bad('the file ends after a signature, without a version row');
  finish();
  if (versions.length === 0) throw bad(`${file} holds no backy2 version`);
  return versions;
}

/**
 * Tags from the output of `backy2 -m ls` (backy2's dumps carry none): with its header line
 * (`date|name|snapshot_name|size|size_bytes|uid|valid|protected|tags|expire`), without it
 * (`-s`: the same fields), or the `version|...` lines Blockvault's own `-m ls` prints.
 */
export function parseBacky2Listing(text: string): Map<string, string[]> {
  const tags = new Map<string, string[]>();
  let uidAt = 5;
  let tagsAt = 8;
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const fields = line.split('|');
    if (fields.includes('uid') && fields.includes('tags')) {
      uidAt = fields.indexOf('uid');
      tagsAt = fields.indexOf('tags');
      continue;
    }
    const shift = fields[0] === 'version' ? 1 : 0;
    const uid = fields[uidAt + shift];
    const list = fields[tagsAt + shift];
    if (!uid || list === undefined) throw bad(`listing line "${line}" has no uid and tags where expected`);
    tags.set(uid, list.split(',').map((t) => t.trim()).filter(Boolean).sort());
  }
  return tags;
}

/** Reads blocks from backy2's file backend folder and checks them with backy2's hash. */
export class Backy2DataFolder implements LegacyDataReader {
  readonly description: string;

  constructor(readonly root: string, readonly hash = 'sha512') {
    if (!getHashes().includes(hash)) throw new EngineError('INVALID_ARGUMENT', `unknown hash function "${hash}" (backy2's default is sha512)`);
    this.description = `backy2:${root}`;
  }

  blobPath(key: string): string {
    return join(this.root, key.slice(0, 2), key.slice(2, 4), `${key}.blob`);
  }

  async read(block: LegacyBlock): Promise<Buffer | null> {
    try {
      return await fs.readFile(this.blobPath(block.key!));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  verify(block: LegacyBlock, data: Buffer): boolean {
    return block.checksum !== null && createHash(this.hash).update(data).digest('hex') === block.checksum;
  }
}

/** Checks that a data folder is there before a migration starts. */
export async function checkDataFolder(path: string): Promise<void> {
  let stat;
  try {
    stat = await fs.stat(path);
  } catch {
    throw new EngineError('NOT_FOUND', `backy2 data folder ${path} does not exist`);
  }
  if (!stat.isDirectory()) throw new EngineError('INVALID_ARGUMENT', `${path} is not a folder (backy2's [DataBackend] path)`);
}
