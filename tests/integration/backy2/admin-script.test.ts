// A backy2 admin's script set (scripts/nightly.sh: ls -m parsed by field number with awk,
// stats -m, export/import with positional files, scrub, restore to file://, protect, rm -f,
// cleanup -f) runs unchanged against Blockvault through a `backy2` command in PATH.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, lsJson, sha256File, tempDir, writeBlocks } from '../../helpers';

describe('backy2 admin scripts', () => {
  it('nightly.sh runs unchanged and sees what backy2 would print', async () => {
    const dir = tempDir();
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const repo = join(dir, 'repo');
    // What an admin installs in place of backy2: the repository comes from the environment.
    writeFileSync(join(bin, 'backy2'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'backy2'), 0o755);
    const image = join(dir, 'vm1.img');
    writeBlocks(image, [1, 2, 0, 3, 1, 4, 5, 0]);
    const script = join(__dirname, 'scripts', 'nightly.sh');
    const run = spawnSync('bash', [script, image, dir], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, BLOCKVAULT_REPO: repo },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, `nightly.sh failed:\n${run.stdout}\n${run.stderr}`);
    // The lines the script itself prints (Blockvault's commands also report on stdout what
    // backy2 logged to stderr: "created repository", "removed", the scrub summary).
    const out = run.stdout.trim().split('\n').filter((line) => /^(versions|daily|invalid|stats|last|protected|left) /.test(line));

    const stats = JSON.parse(spawnSync(process.execPath, [CLI, '--repo', repo, 'stats', '--json'], { encoding: 'utf8' }).stdout) as Array<{ uid: string; sizeBytes: number; bytesRead: number }>;
    const [base, newest] = stats.map((s) => s.uid);
    assert.deepEqual(out, [
      `versions 2 newest ${newest} base ${base}`,
      `daily ${base} 1 daily,weekly`,
      'invalid 0',
      ...stats.map((s) => `stats ${s.uid} ${s.sizeBytes} ${s.bytesRead}`),
      `last ${newest}`,
      `protected ${base}`,
      `left ${newest}`,
    ]);
    assert.equal(await sha256File(join(dir, 'restored.img')), await sha256File(image));
    for (const file of ['newest.stdout', 'newest.backup']) {
      const versionLine = readFileSync(join(dir, file), 'utf8').split('\n')[1];
      assert.match(versionLine, new RegExp(`"type":"version".*"uid":"${newest}"`), `${file} holds the export of ${newest}`);
    }
    assert.deepEqual((await lsJson(repo)).map((v) => [v.uid, v.status]), [[newest, 'valid']]);
  });
});
