// Issue 9 #4: a FIFO (or any source or target that blocks) never hangs the process: SIGTERM
// and Ctrl-C (SIGINT) end the command within 2 s with exit 130, and no valid version is left.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { BS, CLI, backupCli, exited, initRepo, lastLine, lsJson, query, restoreEquals, runningBackup, sleep, spawnCli, tempDir, waitFor, writeBlocks } from '../helpers';

/** Signals the child and returns its exit code and how long it took to exit. */
async function signalAndTime(child: ReturnType<typeof spawnCli>, signal: NodeJS.Signals): Promise<{ code: number | null; ms: number; stderr: string }> {
  const done = exited(child);
  const sent = Date.now();
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const result = await done;
  clearTimeout(timer);
  return { code: result.code, ms: Date.now() - sent, stderr: result.stderr };
}

describe('interrupting commands that wait on a FIFO or a pipe', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'image.img');
  let fifoCount = 0;
  const fifo = (): string => {
    const path = join(dir, `fifo-${fifoCount++}`);
    execFileSync('mkfifo', [path]);
    return path;
  };

  before(async () => {
    repo = await initRepo(dir);
    writeBlocks(image, Array.from({ length: 20 }, (_, i) => (i % 5 === 0 ? 0 : i + 1)));
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} ends a backup from a FIFO nobody writes to: exit 130 within 2 s, no version`, async () => {
      const path = fifo();
      const child = spawnCli(['--repo', repo, 'backup', path, `idle-${signal}`]);
      child.stdout!.resume();
      await waitFor('the backup to start', () => runningBackup(repo, 0), 10_000);
      await sleep(500); // the backup is waiting for a writer
      const result = await signalAndTime(child, signal);
      assert.equal(result.code, 130, result.stderr);
      assert.ok(result.ms < 2000, `exited after ${result.ms} ms`);
      assert.deepEqual((await lsJson(repo)).filter((v) => v.name === `idle-${signal}` && v.status !== 'incomplete'), [], 'no valid version');
    });
  }

  it('SIGTERM ends a backup whose FIFO writer stalls mid-stream: exit 130 within 2 s, no version', async () => {
    const path = fifo();
    const child = spawnCli(['--repo', repo, 'backup', path, 'stalled']);
    // a writer that sends three blocks and then keeps the FIFO open without writing
    const writer = openSync(path, constants.O_WRONLY);
    try {
      writeSync(writer, readFileSync(image).subarray(0, 3 * BS));
      await waitFor('the backup to start', () => runningBackup(repo, 0), 10_000);
      await sleep(700);
      const result = await signalAndTime(child, 'SIGTERM');
      assert.equal(result.code, 130, result.stderr);
      assert.ok(result.ms < 2000, `exited after ${result.ms} ms`);
    } finally {
      closeSync(writer);
    }
    assert.deepEqual((await lsJson(repo)).filter((v) => v.name === 'stalled' && v.status !== 'incomplete'), [], 'no valid version');
  });

  it('backs up a FIFO that a writer fills and closes, bit-exact', async () => {
    const path = fifo();
    const child = spawnCli(['--repo', repo, 'backup', path, 'fed']);
    const done = exited(child);
    const writer = openSync(path, constants.O_WRONLY);
    writeSync(writer, readFileSync(image));
    closeSync(writer);
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    await restoreEquals(repo, lastLine(result.stdout), join(dir, 'fed.restored'), image);
  });

  it('SIGTERM ends a restore to stdout whose reader stopped reading: exit 130 within 2 s', async () => {
    const big = join(dir, 'big.img');
    writeBlocks(big, Array.from({ length: 300 }, (_, i) => 1000 + i));
    const uid = await backupCli(repo, big, 'big');
    // stdout is a pipe nobody reads: the restore fills it (64 KiB) and must wait
    const child = spawn(process.execPath, [CLI, '--repo', repo, 'restore', uid, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pause();
    await waitFor('the restore to start', () => query(repo, "SELECT 1 FROM locks WHERE name LIKE 'restore:%'").length > 0, 10_000);
    await sleep(700);
    const result = await signalAndTime(child, 'SIGTERM');
    assert.equal(result.code, 130, result.stderr);
    assert.ok(result.ms < 2000, `exited after ${result.ms} ms`);
  });
});
