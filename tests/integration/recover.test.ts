// Recovery from the store alone: with metadata.sqlite deleted (plain and encrypted
// repositories), with a damaged one, and with blockvault.json deleted, the repository is
// refused with a message naming `recover`; `restore --without-database` restores every version
// bit-exact from its manifest; `recover` brings back every version with its tags and
// protection, and they deep-scrub clean and restore bit-exact. A removed version stays removed.
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BS, cli, lsJson, ok, sha256File, tempDir, writeBlocks } from '../helpers';

interface Made { repo: string; images: Map<string, string>; removed: string; env: Record<string, string> }

async function makeRepository(dir: string, name: string, encrypted: boolean): Promise<Made> {
  const env: Record<string, string> = encrypted ? { BLOCKVAULT_PASSPHRASE: 'correct horse battery staple 42' } : {};
  const repo = join(dir, name);
  await ok(['init', repo, '--block-size', '64K', ...(encrypted ? ['--encrypt'] : [])], env);
  const images = new Map<string, string>();
  const a = join(dir, `${name}-a.img`);
  writeBlocks(a, [1, 2, 0, 0, 3, 4, 1]);
  const uidA = (await ok(['--repo', repo, 'backup', a, 'disk', '-t', 'daily'], env)).trim().split('\n').pop()!;
  images.set(uidA, a);
  const b = join(dir, `${name}-b.img`);
  writeBlocks(b, [1, 2, 0, 5, 3, 4, 1, 6], BS, 1234);
  const hints = join(dir, `${name}.hints`);
  // Blocks 3 to the end (the last block holds 1234 bytes): hints never reach beyond the image.
  writeFileSync(hints, JSON.stringify([{ offset: 3 * BS, length: 4 * BS + 1234, exists: true }]));
  const uidB = (await ok(['--repo', repo, 'backup', b, 'disk', '--from', uidA, '--hints', hints], env)).trim().split('\n').pop()!;
  images.set(uidB, b);
  const c = join(dir, `${name}-c.img`);
  writeBlocks(c, [9, 9, 9]);
  const removed = (await ok(['--repo', repo, 'backup', c, 'other'], env)).trim().split('\n').pop()!;
  await ok(['--repo', repo, 'protect', uidB], env);
  await ok(['--repo', repo, 'tag', uidB, 'weekly'], env);
  await ok(['--repo', repo, 'rm', '--force', removed], env);
  return { repo, images, removed, env };
}

async function checkRecovered(made: Made, dir: string, before: Awaited<ReturnType<typeof lsJson>>): Promise<void> {
  const { repo, env } = made;
  const recovered = await cli(['recover', repo], { env });
  assert.equal(recovered.code, 0, recovered.stderr);
  assert.match(recovered.stderr, /scrub reports, backup statistics and the job history .* not recovered/);
  const after = JSON.parse(await ok(['--repo', repo, 'ls', '--json'], env)) as typeof before;
  const strip = (list: typeof before): unknown => list.map((v) => ({ uid: v.uid, name: v.name, tags: v.tags, protected: v.protected, valid: v.valid, size: v.size, date: v.date }));
  assert.deepEqual(strip(after), strip(before));
  assert.ok(!after.some((v) => v.uid === made.removed), 'a removed version stays removed');
  const scrub = await cli(['--repo', repo, 'scrub', '--all', '--deep'], { env });
  assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);
  for (const [uid, image] of made.images) {
    const target = join(dir, `${uid}.recovered`);
    const restored = await cli(['--repo', repo, 'restore', uid, target], { env });
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(await sha256File(target), await sha256File(image));
  }
}

describe('recover and restore --without-database', () => {
  const dir = tempDir();

  for (const encrypted of [false, true]) {
    it(`${encrypted ? 'encrypted' : 'plain'}: a deleted database is refused naming recover, restores from manifests, and is rebuilt`, async () => {
      const made = await makeRepository(dir, encrypted ? 'enc' : 'plain', encrypted);
      const before = JSON.parse(await ok(['--repo', made.repo, 'ls', '--json'], made.env)) as Awaited<ReturnType<typeof lsJson>>;
      rmSync(join(made.repo, 'metadata.sqlite'));
      const refused = await cli(['--repo', made.repo, 'ls'], { env: made.env });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /blockvault recover/);
      for (const [uid, image] of made.images) {
        const target = join(dir, `${uid}.nodb`);
        const restored = await cli(['--repo', made.repo, 'restore', uid, target, '--without-database'], { env: made.env });
        assert.equal(restored.code, 0, restored.stderr);
        assert.equal(await sha256File(target), await sha256File(image));
      }
      assert.ok(!existsSync(join(made.repo, 'metadata.sqlite')), 'restore --without-database creates no database');
      await checkRecovered(made, dir, before);
    });
  }

  it('a damaged database is refused naming recover, and recover moves it aside', async () => {
    const made = await makeRepository(dir, 'damaged', false);
    const before = await lsJson(made.repo);
    writeFileSync(join(made.repo, 'metadata.sqlite'), Buffer.alloc(4096, 0x55), { flag: 'r+' });
    const refused = await cli(['--repo', made.repo, 'ls']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\[METADATA_DAMAGED\].*blockvault recover/);
    await checkRecovered(made, dir, before);
    assert.ok(readdirSync(made.repo).some((f) => f.startsWith('metadata.sqlite.damaged-')), 'the damaged file is kept');
  });

  it('a deleted blockvault.json is refused naming recover, and recover writes it again', async () => {
    const made = await makeRepository(dir, 'noconfig', true);
    const before = JSON.parse(await ok(['--repo', made.repo, 'ls', '--json'], made.env)) as Awaited<ReturnType<typeof lsJson>>;
    rmSync(join(made.repo, 'blockvault.json'));
    const refused = await cli(['--repo', made.repo, 'ls'], { env: made.env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /blockvault recover/);
    await checkRecovered(made, dir, before);
    assert.ok(existsSync(join(made.repo, 'blockvault.json')));
  });

  it('a repository of the first format gains its config and manifests as it is used, then recovers', async () => {
    const fixtures = join(__dirname, '..', 'fixtures');
    const repo = join(dir, 'fixture');
    cpSync(join(fixtures, 'plain-v1'), repo, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(fixtures, 'plain-v1.json'), 'utf8')) as { versions: Array<{ uid: string; sha256: string }> };
    await ok(['--repo', repo, 'ls']);
    assert.ok(existsSync(join(repo, 'repository', 'config')), 'the first open publishes the config');
    // Its versions predate manifests: a protect writes one for each.
    for (const v of manifest.versions) await ok(['--repo', repo, 'protect', v.uid]);
    rmSync(join(repo, 'metadata.sqlite'));
    await ok(['recover', repo]);
    for (const v of manifest.versions) {
      const target = join(dir, `${v.uid}.fixture`);
      await ok(['--repo', repo, 'restore', v.uid, target]);
      assert.equal(await sha256File(target), v.sha256);
    }
  });
});
