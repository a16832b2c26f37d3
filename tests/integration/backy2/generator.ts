// A generator of backy2 installations for tests, written from the layouts in
// ../shared/reference/backy2-benji.md: metadata dumps as `backy2 export` writes them (CSV with
// "\r\n" lines, Python's minimal quoting; formats 2.1, 2.2, 2.12) and the file backend's data
// folder (<data>/<uid[0:2]>/<uid[2:4]>/<uid>.blob, plaintext, sha512 checksums). Blocks with
// the same seed share one backy2 block uid, as backy2's deduplication leaves them; seed 0 is a
// sparse block (empty uid and checksum). Also a Benji export and file storage (JSON export
// 3.0.0, blocks/<md5[0:2]>/<md5[2:4]>/<left>-<right> with .meta sidecars, BLAKE2b-256).
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compress } from 'zstd-napi';
import { seededBytes } from '../../helpers';
import { blake2b } from '../../../src-main/engine/migrate/benji';

export interface GeneratedVersion {
  uid: string;
  name: string;
  snapshot: string;
  /** backy2's date text, YYYY-MM-DD HH:MM:SS */
  date: string;
  valid: boolean;
  protected: boolean;
  /** one seed per block; 0 = sparse */
  seeds: number[];
  /** bytes of the last block when shorter than a block */
  tail?: number;
}

export interface Installation {
  dir: string;
  data: string;
  blockSize: number;
  versions: GeneratedVersion[];
  /** one dump file per version */
  dumps: string[];
  /** backy2 block uid of a seed */
  blockUid: Map<number, string>;
  blobPath(uid: string): string;
  /** sha256 of the whole image a version holds */
  imageSha256(version: GeneratedVersion): string;
  sizeBytes(version: GeneratedVersion): number;
}

const BASE57 = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** A backy2 block uid: md5(shortuuid)[:10] + shortuuid (22 base57 characters). */
export function backy2BlockUid(): string {
  const bytes = randomBytes(22);
  const short = [...bytes].map((b) => BASE57[b % BASE57.length]).join('');
  return createHash('md5').update(short).digest('hex').slice(0, 10) + short;
}

/** A uuid1-shaped version uid as backy2 makes them. */
export function backy2VersionUid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-11e7-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** One CSV row as Python's csv.writer (QUOTE_MINIMAL) writes it, with "\r\n". */
export function csvRow(fields: Array<string | number>): string {
  return `${fields.map((f) => {
    const text = String(f);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }).join(',')}\r\n`;
}

function blockData(seed: number, length: number): Buffer {
  return seededBytes(seed, length);
}

export function makeInstallation(dir: string, options: { blockSize: number; versions: GeneratedVersion[]; format?: '2.1' | '2.2' | '2.12' }): Installation {
  const { blockSize, versions } = options;
  const format = options.format ?? '2.2';
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  const blockUid = new Map<number, string>();
  const blobPath = (uid: string): string => join(data, uid.slice(0, 2), uid.slice(2, 4), `${uid}.blob`);
  const sizeBytes = (v: GeneratedVersion): number => v.seeds.length * blockSize - (v.tail ? blockSize - v.tail : 0);
  const length = (v: GeneratedVersion, idx: number): number => Math.min(blockSize, sizeBytes(v) - idx * blockSize);
  const dumps: string[] = [];
  for (const v of versions) {
    let text = csvRow([`backy2 Version ${format} metadata dump`]);
    if (format === '2.1') text += csvRow([v.uid, v.date, v.name, v.seeds.length, sizeBytes(v), v.valid ? 1 : 0]);
    else if (format === '2.2') text += csvRow([v.uid, v.date, v.name, v.snapshot, v.seeds.length, sizeBytes(v), v.valid ? 1 : 0, v.protected ? 1 : 0]);
    else text += csvRow([v.uid, v.date, v.name, v.snapshot, v.seeds.length, sizeBytes(v), v.valid ? 1 : 0, v.protected ? 1 : 0, '']);
    v.seeds.forEach((seed, idx) => {
      const len = length(v, idx);
      let uid = '';
      let checksum = '';
      if (seed !== 0) {
        // A short last block has other bytes than the full block of the same seed: its own uid.
        const key = len === blockSize ? seed : seed * 1_000_003 + len;
        uid = blockUid.get(key) ?? backy2BlockUid();
        const bytes = blockData(seed, len);
        if (!blockUid.has(key)) {
          blockUid.set(key, uid);
          mkdirSync(join(data, uid.slice(0, 2), uid.slice(2, 4)), { recursive: true });
          writeFileSync(blobPath(uid), bytes);
        }
        checksum = createHash('sha512').update(bytes).digest('hex');
      }
      const row: Array<string | number> = [uid, v.uid, idx, v.date, checksum, len, 1];
      if (format === '2.12') row.push(0, '', '');
      text += csvRow(row);
    });
    const file = join(dir, `${v.uid}.backy2`);
    writeFileSync(file, text);
    dumps.push(file);
  }
  const imageSha256 = (v: GeneratedVersion): string => {
    const hash = createHash('sha256');
    v.seeds.forEach((seed, idx) => hash.update(seed === 0 ? Buffer.alloc(length(v, idx)) : blockData(seed, length(v, idx))));
    return hash.digest('hex');
  };
  return { dir, data, blockSize, versions, dumps, blockUid, blobPath, imageSha256, sizeBytes };
}

/** A Benji installation: one metadata export (3.0.0) and a file storage; `zstd` seeds are stored compressed. */
export function makeBenjiInstallation(dir: string, options: { blockSize: number; versions: GeneratedVersion[]; zstdSeeds?: number[] }): Installation & { exportFile: string; storage: string } {
  const { blockSize, versions } = options;
  const storage = join(dir, 'storage');
  const sizeBytes = (v: GeneratedVersion): number => v.seeds.length * blockSize - (v.tail ? blockSize - v.tail : 0);
  const length = (v: GeneratedVersion, idx: number): number => Math.min(blockSize, sizeBytes(v) - idx * blockSize);
  const pathOf = (key: string): string => {
    const md5 = createHash('md5').update(key).digest('hex');
    return join(storage, 'blocks', md5.slice(0, 2), md5.slice(2, 4), key);
  };
  const blockUid = new Map<number, string>();
  const exported = versions.map((v, n) => ({
    uid: v.uid,
    date: `${v.date.replace(' ', 'T')}.000000Z`,
    volume: v.name,
    snapshot: v.snapshot,
    size: sizeBytes(v),
    block_size: blockSize,
    storage: 'file-1',
    status: v.valid ? 'valid' : 'invalid',
    protected: v.protected,
    bytes_read: 0, bytes_written: 0, bytes_deduplicated: 0, bytes_sparse: 0, duration: 1,
    labels: { 'benji-backup.me/instance': 'benji-k8s', daily: '' },
    blocks: v.seeds.flatMap((seed, idx) => {
      if (seed === 0) return [];
      const len = length(v, idx);
      const bytes = blockData(seed, len);
      const key = `${(n + 1).toString(16).padStart(16, '0')}-${(idx + 1).toString(16).padStart(16, '0')}`;
      blockUid.set(seed, key);
      const path = pathOf(key);
      mkdirSync(join(path, '..'), { recursive: true });
      const zstd = options.zstdSeeds?.includes(seed);
      writeFileSync(path, zstd ? compress(bytes) : bytes);
      const checksum = blake2b(bytes, 32).toString('hex');
      writeFileSync(`${path}.meta`, JSON.stringify({
        created: '2020-01-01T00:00:00Z', modified: '2020-01-01T00:00:00Z', metadata_version: '2.0.0', object_size: len, size: len, checksum,
        ...(zstd ? { transforms: [{ name: 'zstd', module: 'benji.transform.zstd', materials: { original_size: len } }] } : {}),
      }));
      return [{ uid: { left: n + 1, right: idx + 1 }, idx, size: len, valid: true, checksum }];
    }),
  }));
  const exportFile = join(dir, 'benji-export.json');
  writeFileSync(exportFile, JSON.stringify({ metadata_version: '3.0.0', versions: exported }));
  const imageSha256 = (v: GeneratedVersion): string => {
    const hash = createHash('sha256');
    v.seeds.forEach((seed, idx) => hash.update(seed === 0 ? Buffer.alloc(length(v, idx)) : blockData(seed, length(v, idx))));
    return hash.digest('hex');
  };
  return { dir, data: storage, storage, blockSize, versions, dumps: [exportFile], exportFile, blockUid, blobPath: pathOf, imageSha256, sizeBytes };
}
