// Writes the golden fixture repositories in tests/fixtures (run once per format change:
// `node --import tsx scripts/make-fixtures.ts`). Old fixtures are never regenerated: a new
// format gets new fixture folders beside them, so every release keeps reading the old ones.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backup } from '../src-main/engine/pipeline/backup';
import { Repository } from '../src-main/engine/repository';
import { REPOSITORY_FORMAT_VERSION } from '../src-main/engine/format';

const BLOCK = 64 * 1024;
const root = join(__dirname, '..', 'tests', 'fixtures');
const work = join(root, '.work');

/** Deterministic image: random-looking, text, zero and repeated blocks, and a short tail. */
function image(variant: number): Buffer {
  const parts: Buffer[] = [];
  let seed = 12345 + variant;
  const next = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
  const random = (n: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i += 4) b.writeUInt32LE(next(), i); return b; };
  const text = Buffer.from('Blockvault fixture text block. '.repeat(Math.ceil(BLOCK / 31)).slice(0, BLOCK));
  const first = random(BLOCK);
  parts.push(first, text, Buffer.alloc(BLOCK), random(BLOCK), first, Buffer.alloc(BLOCK), random(BLOCK), text);
  if (variant > 0) parts[3] = random(BLOCK);
  parts.push(random(5000));
  return Buffer.concat(parts);
}

async function make(name: string, encryption?: { passphrase: string }): Promise<void> {
  const dir = join(root, `${name}-v${REPOSITORY_FORMAT_VERSION}`);
  if (existsSync(dir)) throw new Error(`${dir} exists: fixtures are frozen, never regenerated`);
  const repo = Repository.init(dir, { blockSize: BLOCK, compression: 'zstd:3', encryption });
  const manifest: Array<{ uid: string; name: string; sha256: string; size: number }> = [];
  mkdirSync(work, { recursive: true });
  for (let variant = 0; variant < 2; variant++) {
    const data = image(variant);
    const file = join(work, `image-${variant}.img`);
    writeFileSync(file, data);
    const result = await backup(repo, { source: file, name: 'fixture-disk', snapshot: `s${variant}`, tags: ['golden'], from: manifest[0]?.uid });
    manifest.push({ uid: result.uid, name: 'fixture-disk', sha256: createHash('sha256').update(data).digest('hex'), size: data.length });
  }
  // No machine paths in committed files: the sources were temporary files.
  repo.meta.db.prepare("UPDATE versions SET source = 'fixture-disk.img'").run();
  repo.meta.db.exec('VACUUM');
  repo.meta.db.pragma('journal_mode = DELETE');
  repo.close();
  rmSync(join(dir, 'metadata.sqlite-wal'), { force: true });
  rmSync(join(dir, 'metadata.sqlite-shm'), { force: true });
  writeFileSync(join(root, `${name}-v${REPOSITORY_FORMAT_VERSION}.json`), `${JSON.stringify({ passphrase: encryption?.passphrase ?? null, versions: manifest }, null, 2)}\n`);
}

void (async () => {
  await make('plain');
  await make('encrypted', { passphrase: 'golden fixture passphrase' });
  rmSync(work, { recursive: true, force: true });
})();
