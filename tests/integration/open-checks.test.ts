// Opening a repository refuses what is not one, clearly and without changing it (issue 9
// #9): formatVersion 0, -1, null or text; a 0-byte metadata.sqlite (never initialised into
// a fresh schema); a missing blockvault.json in a folder that holds a repository's files
// gets advice that works (not "init", which refuses there); a damaged blockvault.json is
// reported by position, never by echoing its content.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cli, initRepo, tempDir } from '../helpers';

describe('opening refuses what is not a repository', () => {
  const dir = tempDir();

  for (const bad of [0, -1, null, '1', 1.5]) {
    it(`formatVersion ${JSON.stringify(bad)} is refused`, async () => {
      const repo = await initRepo(dir, [], `fv-${String(bad)}`);
      const file = join(repo, 'blockvault.json');
      const config = JSON.parse(readFileSync(file, 'utf8'));
      config.formatVersion = bad;
      writeFileSync(file, JSON.stringify(config));
      const result = await cli(['--repo', repo, 'ls']);
      assert.notEqual(result.code, 0, 'ls must refuse');
      assert.match(result.stderr, /FORMAT_UNSUPPORTED|NOT_A_REPOSITORY/);
      assert.match(result.stderr, /format version/);
    });
  }

  it('a 0-byte metadata.sqlite is refused and stays 0 bytes', async () => {
    const repo = await initRepo(dir, [], 'empty-meta');
    const file = join(repo, 'metadata.sqlite');
    for (const extra of ['-wal', '-shm']) rmSync(file + extra, { force: true });
    truncateSync(file, 0);
    const result = await cli(['--repo', repo, 'ls']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /NOT_A_REPOSITORY/);
    assert.match(result.stderr, /empty|not initialised/);
    assert.equal(statSync(file).size, 0, 'nothing was written into it');
  });

  it('a missing blockvault.json beside repository files does not advise init', async () => {
    const repo = await initRepo(dir, [], 'no-config');
    rmSync(join(repo, 'blockvault.json'));
    const result = await cli(['--repo', repo, 'ls']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /blockvault\.json/);
    assert.doesNotMatch(result.stderr, /blockvault init/, 'init refuses a folder that is not empty');
    const init = await cli(['init', repo]);
    assert.notEqual(init.code, 0, 'init indeed refuses there');
  });

  it('a folder with nothing in it advises init, and init works there', async () => {
    const empty = join(dir, 'nothing');
    const result = await cli(['--repo', empty, 'ls']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /blockvault init/);
    assert.equal((await cli(['init', empty, '--block-size', '64K'])).code, 0);
  });

  it('a damaged blockvault.json is reported by position, not by its content', async () => {
    const repo = await initRepo(dir, [], 'garbled');
    writeFileSync(join(repo, 'blockvault.json'), '{"format": SECRET-CONTENT-xyz');
    const result = await cli(['--repo', repo, 'ls']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /position \d+/);
    assert.doesNotMatch(result.stderr, /SECRET|xyz/);
  });
});
