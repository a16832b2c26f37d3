// The command line as a contract: --help everywhere, usage errors exit 2, one clear error
// line (stack only with -v), unknown repositories, BLOCKVAULT_REPO, --log-file.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { backupCli, cli, initRepo, lsJson, ok, repoState, tempDir, writeBlocks } from '../helpers';

async function commandNames(): Promise<string[]> {
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  const section = help.stdout.split('commands:\n')[1].split('\n\n')[0];
  return section.split('\n').map((line) => line.trim().split(/\s+/)[0]).filter(Boolean);
}

describe('command line', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'disk.img');
  let uid: string;
  const noRepoEnv = { BLOCKVAULT_REPO: undefined };

  before(async () => {
    repo = await initRepo(dir);
    writeBlocks(image, [1, 2, 0]);
    uid = await backupCli(repo, image, 'disk');
  });

  it('--help works on every command and needs no repository', async () => {
    const names = await commandNames();
    for (const expected of ['init', 'backup', 'ls', 'restore', 'scrub', 'scrub-report', 'rm', 'protect', 'unprotect', 'tag', 'untag', 'cleanup', 'export', 'import', 'du', 'diff', 'stats']) {
      assert.ok(names.includes(expected), `main help lists ${expected}`);
    }
    const runs = [...names.map((name) => [name, '--help']), ['backup', '-h'], ['--repo', '/nonexistent', 'restore', '--help']];
    const results = await Promise.all(runs.map((args) => cli(args, { env: noRepoEnv }).then((r) => [args.find((a) => names.includes(a))!, r] as const)));
    for (const [name, result] of results) {
      assert.equal(result.code, 0, `${name} --help: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`usage: blockvault ${name}\\b`), `${name} --help prints its usage`);
    }
  });

  it('prints usage and exits 2 on no command, an unknown command or option, and wrong argument counts', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['--repo', repo, 'ls', '--bogus'],
      ['--repo', repo, 'restore', uid],
      ['--repo', repo, 'restore', uid, 'a', 'b'],
      ['--repo', repo, 'backup', image],
      ['--repo', repo, 'diff', uid],
      ['--repo', repo, 'rm'],
      ['--repo', repo, 'export', uid],
      ['--repo', repo, 'import'],
      ['--repo', repo, 'stats', '-l', 'zero'],
      ['--repo', repo, 'cleanup', 'extra'],
      ['init'],
    ];
    const before = repoState(repo);
    for (const args of cases) {
      const result = await cli(args);
      assert.equal(result.code, 2, `blockvault ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
      assert.match(result.stderr + result.stdout, /usage: blockvault/);
    }
    assert.equal(repoState(repo), before);
    const version = await cli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });

  it('needs a repository: --repo or BLOCKVAULT_REPO', async () => {
    const none = await cli(['ls'], { env: noRepoEnv });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /BLOCKVAULT_REPO/);
    const fromEnv = JSON.parse((await cli(['ls', '--json'], { env: { BLOCKVAULT_REPO: repo } })).stdout) as Array<{ uid: string }>;
    assert.deepEqual(fromEnv.map((v) => v.uid), [uid]);
    const other = await initRepo(dir, [], 'other');
    const flagWins = await cli(['--repo', other, 'ls', '--json'], { env: { BLOCKVAULT_REPO: repo } });
    assert.deepEqual(JSON.parse(flagWins.stdout), [], '--repo wins over the environment');
    const viaEnv = await cli(['backup', image, 'env-disk'], { env: { BLOCKVAULT_REPO: other } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal((await lsJson(other)).length, 1);
  });

  it('reports an unknown repository with exit 1 and one error line', async () => {
    const plain = join(dir, 'plain-folder');
    mkdirSync(plain);
    writeFileSync(join(plain, 'file.txt'), 'x');
    for (const path of [join(dir, 'does-not-exist'), plain, image]) {
      const result = await cli(['--repo', path, 'ls']);
      assert.equal(result.code, 1, `${path}: ${result.stderr}`);
      assert.match(result.stderr, /\[NOT_A_REPOSITORY\]/);
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one line without -v');
    }
    assert.equal(existsSync(join(dir, 'does-not-exist')), false, 'nothing was created');
    assert.deepEqual(readdirSync(plain), ['file.txt']);
  });

  it('prints the stack only with -v, and --log-file records the run', async () => {
    const quiet = await cli(['--repo', repo, 'restore', 'no-such-uid', join(dir, 'x')]);
    assert.equal(quiet.code, 1);
    assert.equal(quiet.stderr.trim().split('\n').length, 1);
    assert.doesNotMatch(quiet.stderr, /\n\s+at /);
    const loud = await cli(['-v', '--repo', repo, 'restore', 'no-such-uid', join(dir, 'x')]);
    assert.equal(loud.code, 1);
    assert.match(loud.stderr, /\n\s+at /, 'stack with -v');
    const log = join(dir, 'bv.log');
    await ok(['--repo', repo, '--log-file', log, 'ls']);
    const failed = await cli(['--repo', repo, '--log-file', log, 'rm', 'no-such-uid']);
    assert.equal(failed.code, 1);
    const text = readFileSync(log, 'utf8');
    assert.match(text, /blockvault --repo .* ls/);
    assert.match(text, /NOT_FOUND/);
  });

  it('init refuses bad settings and occupied paths, creating nothing', async () => {
    for (const [args, code] of [
      [['--block-size', '3K'], /INVALID_ARGUMENT/],
      [['--block-size', '32K'], /INVALID_ARGUMENT/],
      [['--block-size', '128M'], /INVALID_ARGUMENT/],
      [['--block-size', 'big'], /INVALID_ARGUMENT/],
      [['--compression', 'lz4'], /INVALID_ARGUMENT/],
      [['--compression', 'zstd:99'], /INVALID_ARGUMENT/],
    ] as const) {
      const path = join(dir, `bad-init-${args.join('-').replace(/\W/g, '')}`);
      const result = await cli(['init', path, ...args]);
      assert.ok(result.code === 1 || result.code === 2, `init ${args.join(' ')} exited ${result.code}`);
      assert.match(result.stderr, code);
      assert.equal(existsSync(path), false, `init ${args.join(' ')} left ${path} behind`);
    }
    const full = join(dir, 'occupied');
    mkdirSync(full);
    writeFileSync(join(full, 'keep'), 'x');
    const occupied = await cli(['init', full]);
    assert.equal(occupied.code, 1);
    assert.match(occupied.stderr, /ALREADY_EXISTS/);
    assert.deepEqual(readdirSync(full), ['keep']);
    const again = await cli(['init', repo]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /REPOSITORY_EXISTS/);
  });

  it('backup refuses a missing source, a directory and bad names, creating no version', async () => {
    const before = repoState(repo);
    const cases: Array<[string[], RegExp]> = [
      [[join(dir, 'missing.img'), 'x'], /NOT_FOUND/],
      [[dir, 'x'], /INVALID_ARGUMENT/],
      [[image, ''], /INVALID_ARGUMENT/],
      [[image, 'x', '-t', ''], /INVALID_ARGUMENT/],
      [[image, 'line\nbreak'], /INVALID_ARGUMENT/],
    ];
    for (const [args, code] of cases) {
      const result = await cli(['--repo', repo, 'backup', ...args]);
      assert.equal(result.code, 1, `backup ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, code);
      assert.equal(result.stdout.trim(), '');
    }
    assert.equal(repoState(repo), before);
  });
});
