// An import whose objects are missing from the store is imported invalid, also the second
// time: the first import leaves object rows in state `invalid` (known missing or damaged), and
// an import meeting such a row must not count the object as present. (Before, export, rm,
// cleanup, import [invalid], rm, import gave a VALID version whose data was not there; found
// by the fault suite's kill part.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupCli, cli, initRepo, lsJson, ok, tempDir, writeBlocks } from '../helpers';

describe('importing a version whose objects are gone', () => {
  const dir = tempDir();

  it('is invalid each time, never valid without its data', async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0']);
    const image = join(dir, 'a.img');
    writeBlocks(image, [1, 2, 0, 3, 4]);
    const uid = await backupCli(repo, image, 'a');
    const exported = join(dir, 'a.export');
    await ok(['--repo', repo, 'export', uid, '-f', exported]);
    await ok(['--repo', repo, 'rm', '--force', uid]);
    await ok(['--repo', repo, 'cleanup', '--grace-seconds', '0']);
    for (const attempt of [1, 2, 3]) {
      const imported = await cli(['--repo', repo, 'import', '-f', exported]);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(imported.stderr, /objects are missing from the store .* imported as invalid/, `import ${attempt}`);
      const [version] = await lsJson(repo);
      assert.equal(version.valid, false, `import ${attempt} made a valid version whose objects are not in the store`);
      await ok(['--repo', repo, 'rm', '--force', uid]);
    }
  });
});
