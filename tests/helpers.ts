// Test helpers: temporary folders, deterministic images, hashing files, running the CLI,
// creating repositories and reading their state back (SQLite rows and object files).
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import assert from 'node:assert/strict';
import type { Version } from '../src-shared/model';

const ROOT = join(__dirname, '..');
/** The CLI under test; BLOCKVAULT_TEST_CLI points the suite at another build (e.g. to check a test fails without a fix). */
export const CLI = process.env.BLOCKVAULT_TEST_CLI ?? join(ROOT, 'bin', 'blockvault.js');

/** Block size of the test repositories (the smallest the engine accepts). */
export const BS = 64 * 1024;

/** A temporary folder removed after the test file. */
export function tempDir(prefix = 'bv-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
  });
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes from a seed (xorshift), fast enough for tests. */
export function seededBytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= length; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  for (let i = length - (length % 4); i < length; i++) out[i] = (seed + i) & 0xff;
  return out;
}

export type Extent = { offset: number; data: Buffer };

/** Writes a sparse image of `size` bytes with the given extents of data. */
export function writeImage(path: string, size: number, extents: Extent[]): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const extent of extents) writeSync(fd, extent.data, 0, extent.data.length, extent.offset);
  } finally {
    closeSync(fd);
  }
}

/** Overwrites bytes of an existing file in place (keeps its size unless writing past the end). */
export function patchFile(path: string, offset: number, data: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * An image of `blocks` blocks of BS bytes where block i holds seededBytes(seedOf(i)) or zeros
 * when seedOf returns 0. Blocks with the same seed are identical.
 */
export function writeBlocks(path: string, seeds: number[], blockSize = BS, tail = 0): void {
  const size = seeds.length * blockSize - (tail ? blockSize - tail : 0);
  const extents: Extent[] = [];
  seeds.forEach((seed, i) => {
    if (seed === 0) return;
    const length = Math.min(blockSize, size - i * blockSize);
    extents.push({ offset: i * blockSize, data: seededBytes(seed, length) });
  });
  writeImage(path, size, extents);
}

export function randomData(length: number): Buffer {
  return randomBytes(length);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts the built CLI as a child process (for tests that signal or race it). */
export function spawnCli(args: string[], env: Record<string, string | undefined> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs the built CLI as a user would. */
export function cli(args: string[], options: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, options.env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? -1 : -2), stdout, stderr }));
    child.stdin!.end(options.input ?? '');
  });
}

/** The last line of stdout (a backup's UID). */
export function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1].trim();
}

/** Runs the CLI and asserts it succeeded; returns stdout. */
export async function ok(args: string[], env?: Record<string, string | undefined>): Promise<string> {
  const result = await cli(args, { env });
  assert.equal(result.code, 0, `blockvault ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Creates a repository with 64K blocks in `dir`/`name`; returns its path. */
export async function initRepo(dir: string, args: string[] = [], name = 'repo'): Promise<string> {
  const repo = join(dir, name);
  await ok(['init', repo, '--block-size', '64K', ...args]);
  return repo;
}

/** Backs up `image` as `name` and returns the new version's UID. */
export async function backupCli(repo: string, image: string, name: string, args: string[] = []): Promise<string> {
  const uid = lastLine(await ok(['--repo', repo, 'backup', image, name, ...args]));
  assert.match(uid, /^[0-9a-f-]{36}$/, `backup printed "${uid}" as its last line`);
  return uid;
}

/** Restores `uid` to a new file `target` and asserts it equals `image` byte for byte. */
export async function restoreEquals(repo: string, uid: string, target: string, image: string): Promise<void> {
  await ok(['--repo', repo, 'restore', uid, target]);
  assert.equal(statSync(target).size, statSync(image).size, 'restored size differs');
  assert.equal(await sha256File(target), await sha256File(image), `restore of ${uid}: bytes differ from ${image}`);
}

/** What `ls --json` prints for a version: the shared model's Version. */
export type VersionJson = Version;

export async function lsJson(repo: string, args: string[] = []): Promise<VersionJson[]> {
  return JSON.parse(await ok(['--repo', repo, 'ls', '--json', ...args])) as VersionJson[];
}

export async function version(repo: string, uid: string): Promise<VersionJson> {
  const found = (await lsJson(repo)).find((v) => v.uid === uid);
  assert.ok(found, `version ${uid} is not listed`);
  return found;
}

/** Object files in the store: path relative to objects/ -> size. Temporary files included. */
export function objectFiles(repo: string): Map<string, number> {
  const files = new Map<string, number>();
  const root = join(repo, 'objects');
  const walk = (dir: string, rel: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, `${rel}${entry.name}/`);
      else files.set(`${rel}${entry.name}`, statSync(path).size);
    }
  };
  walk(root, '');
  return files;
}

/** Object names (hex digests) in the store, excluding temporary files. */
export function objectNames(repo: string): string[] {
  return [...objectFiles(repo).keys()].map((p) => p.split('/').pop()!).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
}

export function objectPath(repo: string, digest: string): string {
  return join(repo, 'objects', digest.slice(0, 2), digest.slice(2, 4), digest);
}

/** Opens the repository's SQLite file (read-only unless asked) for white-box checks. */
export function openDb(repo: string, readonly = true): Database.Database {
  const db = new Database(join(repo, 'metadata.sqlite'), { readonly, fileMustExist: true });
  db.pragma('busy_timeout = 20000');
  return db;
}

export function query<T = Record<string, unknown>>(repo: string, sql: string, ...args: unknown[]): T[] {
  const db = openDb(repo);
  try {
    return db.prepare(sql).all(...args) as T[];
  } finally {
    db.close();
  }
}

/** Digests (hex) of a version's blocks in index order; null for sparse blocks. */
export function blockDigests(repo: string, uid: string): Array<string | null> {
  return query<{ d: string | null }>(
    repo,
    `SELECT CASE WHEN o.digest IS NULL THEN NULL ELSE lower(hex(o.digest)) END AS d FROM blocks b JOIN versions v ON v.id = b.version_id LEFT JOIN objects o ON o.id = b.object_id WHERE v.uid = ? ORDER BY b.idx`,
    uid,
  ).map((r) => r.d);
}

/**
 * Everything a command could change: every metadata row (except job-like tables that a
 * refused command may legitimately touch: none today) and every file in the store.
 */
export function repoState(repo: string): string {
  const db = openDb(repo);
  try {
    const tables = ['settings', 'versions', 'tags', 'blocks', 'objects', 'stats', 'scrubs'];
    const dump: Record<string, unknown> = {};
    for (const table of tables) dump[table] = db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).raw().all();
    dump.files = [...objectFiles(repo).entries()].sort();
    return JSON.stringify(dump, (_key, value) => (value && value.type === 'Buffer' ? Buffer.from(value.data).toString('hex') : value));
  } finally {
    db.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value (not undefined/false) or the timeout passes. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 30_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Resolves with the exit code (or signal name) of a child process. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => { stdout += d; });
  child.stderr?.on('data', (d) => { stderr += d; });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** The incomplete version of a running backup with at least `rows` block rows, if any. */
export function runningBackup(repo: string, rows = 1): { uid: string; rows: number } | undefined {
  const [row] = query<{ uid: string; rows: number }>(
    repo,
    `SELECT v.uid, (SELECT count(*) FROM blocks b WHERE b.version_id = v.id) AS rows FROM versions v WHERE v.state = 0 ORDER BY v.id DESC LIMIT 1`,
  );
  return row && row.rows >= rows ? row : undefined;
}

/** Sets objects.last_used (ms) for the objects matched by `where` (white-box aging). */
export function ageObjects(repo: string, lastUsed: number, where = '1'): number {
  const db = openDb(repo, false);
  try {
    return db.prepare(`UPDATE objects SET last_used = ? WHERE ${where}`).run(lastUsed).changes;
  } finally {
    db.close();
  }
}

/**
 * Stops a child process (SIGSTOP) at a moment when it holds no SQLite write lock, so other
 * processes can keep using the repository while it is frozen mid-run. Resume with SIGCONT.
 */
export async function freeze(child: ChildProcess, repo: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    child.kill('SIGSTOP');
    const db = new Database(join(repo, 'metadata.sqlite'), { fileMustExist: true });
    db.pragma('busy_timeout = 300');
    try {
      db.exec('BEGIN IMMEDIATE; ROLLBACK;');
      return;
    } catch {
      child.kill('SIGCONT');
      await sleep(20);
    } finally {
      db.close();
    }
  }
  throw new Error('could not freeze the child outside a transaction');
}
