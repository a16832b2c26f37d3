// Helpers of the benchmark: running external commands with wall-clock timing, hashing files,
// disk usage, sizes and number formatting.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function fail(message: string): never {
  throw new Error(`benchmark failed: ${message}`);
}

export function which(command: string): string | null {
  const result = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

export interface Timed {
  seconds: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; throws with its stderr when it fails. Wall time in seconds. */
export function timedRun(command: string, args: string[], options: SpawnSyncOptions = {}): Timed {
  const started = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  const seconds = (performance.now() - started) / 1000;
  if (result.error) fail(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}: ${String(result.stderr ?? '').trim().slice(-2000)}`);
  }
  return { seconds, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
}

/** Runs a shell command line (for redirections), timed. */
export function timedShell(line: string, options: SpawnSyncOptions = {}): Timed {
  return timedRun('sh', ['-c', line], options);
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Flushes every dirty page of the machine, so one phase's writeback does not slow the next. */
export function syncAll(): void {
  spawnSync('sync', []);
}

/** Reads the whole file once (cat > /dev/null) so the measurements that follow see a warm page cache. */
export function warmUp(path: string): number {
  return timedShell(`cat ${shellQuote(path)} > /dev/null`).seconds;
}

/** sha256 of a file: openssl when installed (faster), else Node's crypto. */
export function sha256File(path: string): string {
  if (which('openssl')) {
    const out = timedRun('openssl', ['dgst', '-sha256', '-r', path]).stdout;
    return out.trim().split(/\s+/)[0];
  }
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(8 * 1024 * 1024);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Bytes allocated on disk under a path (du --block-size=1). */
export function diskUsage(path: string): number {
  const out = timedRun('du', ['-s', '--block-size=1', path]).stdout;
  return Number(out.split(/\s+/)[0]);
}

export function parseSizeArg(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!match) fail(`not a size: "${text}" (use e.g. 512M, 2G, 16G)`);
  const power = ' kmgt'.indexOf((match[2] || ' ').toLowerCase());
  return Math.round(Number(match[1]) * 1024 ** power);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** MB/s with MB = 10^6 bytes. */
export function rate(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : Infinity;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Writes a small private file (a peer's password file). */
export function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
}

interface CpuSnapshot {
  wall: number;
  /** busy seconds of the whole machine (all cores), steal included */
  busy: number;
  /** CPU seconds of this process (all threads) and of its waited-for children */
  ours: number;
}

function cpuSnapshot(): CpuSnapshot {
  const wall = performance.now() / 1000;
  let busy = 0;
  let ours = 0;
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait
    busy = (fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + (fields[7] ?? 0)) / 100;
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 16 and 17 (cutime, cstime) are at 13 and 14 after the command name
    ours = (Number(after[13]) + Number(after[14])) / 100;
  } catch {
    return { wall, busy: 0, ours: 0 };
  }
  const usage = process.resourceUsage();
  ours += (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  return { wall, busy, ours };
}

/**
 * Runs fn and reports how busy the machine was with *other* work meanwhile: other processes
 * and hypervisor steal, as a percentage of all cores. Other sessions share this machine; a
 * figure taken under foreign load is flagged in the output.
 */
export async function withLoad<T>(fn: () => T | Promise<T>): Promise<{ value: T; otherCpuPct: number }> {
  const before = cpuSnapshot();
  const value = await fn();
  const after = cpuSnapshot();
  const capacity = (after.wall - before.wall) * availableParallelism();
  const other = capacity > 0 ? ((after.busy - before.busy) - (after.ours - before.ours)) / capacity : 0;
  return { value, otherCpuPct: Math.max(0, Math.round(other * 100)) };
}
