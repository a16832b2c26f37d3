// Golden repositories made by earlier releases (tests/fixtures/*-v<format>): every release
// must open, list, scrub and restore them byte-exact.
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cli, sha256File, tempDir } from '../helpers';

const FIXTURES = join(__dirname, '..', 'fixtures');
const manifests = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));

describe('golden fixture repositories', () => {
  it('has fixtures to check', () => {
    assert.ok(manifests.includes('plain-v1.json') && manifests.includes('encrypted-v1.json'), manifests.join(','));
  });

  for (const manifestFile of manifests) {
    const name = manifestFile.replace(/\.json$/, '');
    it(`${name}: opens, lists, deep-scrubs and restores byte-exact`, async () => {
      const manifest = JSON.parse(readFileSync(join(FIXTURES, manifestFile), 'utf8')) as { passphrase: string | null; versions: Array<{ uid: string; sha256: string; size: number }> };
      const dir = tempDir();
      const repo = join(dir, 'repo');
      cpSync(join(FIXTURES, name), repo, { recursive: true });
      const env: Record<string, string> = manifest.passphrase ? { BLOCKVAULT_PASSPHRASE: manifest.passphrase } : {};
      const ls = await cli(['--repo', repo, 'ls', '--json'], { env });
      assert.equal(ls.code, 0, ls.stderr);
      const versions = JSON.parse(ls.stdout) as Array<{ uid: string; valid: boolean; size: number }>;
      assert.deepEqual(versions.map((v) => v.uid), manifest.versions.map((v) => v.uid));
      assert.ok(versions.every((v) => v.valid));
      const scrub = await cli(['--repo', repo, 'scrub', '--all', '--deep'], { env });
      assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);
      for (const version of manifest.versions) {
        const target = join(dir, `${version.uid}.img`);
        const restore = await cli(['--repo', repo, 'restore', version.uid, target], { env });
        assert.equal(restore.code, 0, restore.stderr);
        assert.equal(await sha256File(target), version.sha256);
      }
    });
  }

  it('refuses a repository of a newer format, naming both versions', async () => {
    const dir = tempDir();
    const repo = join(dir, 'repo');
    cpSync(join(FIXTURES, 'plain-v1'), repo, { recursive: true });
    const configFile = join(repo, 'blockvault.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    config.formatVersion = 99;
    writeFileSync(configFile, JSON.stringify(config));
    const ls = await cli(['--repo', repo, 'ls']);
    assert.equal(ls.code, 1);
    assert.match(ls.stderr, /FORMAT_UNSUPPORTED.*format version 99.*reads up to 1/);
  });
});
