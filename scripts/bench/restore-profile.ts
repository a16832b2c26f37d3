// Where a folder restore's and deep scrub's time goes: backs up the bench image once into a
// kept folder repository, then times restores (to a new file) and deep scrubs of it, printing
// for each the wall time, the CPU seconds by thread (main, workers, libuv pool), the machine's
// other load, the disk's busy time and bytes (/proc/diskstats), and optionally a timeline per
// 100 ms. With --refs it also measures the bench's references (openssl, dd direct write and
// read) and prints each run against them as the bench does. Alternate it with another
// checkout's copy (same --dir) to compare code on this noisy machine; run it under the bench
// lock. Not part of `npm run bench`:
//   flock /tmp/blockvault-bench.lock node --import tsx scripts/bench/restore-profile.ts --dir /tmp/rp [--size 2G] [--runs 3] [--only restore|scrub] [--refs] [--timeline] [--check]
// (--check: sha256 of each restored image; --repo DIR and --target-dir DIR put the repository
// or the restored file elsewhere, e.g. on tmpfs to take the disk out of the picture; node
// --cpu-prof profiles the main thread and the workers.)
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { backup } from '../../src-main/engine/pipeline/backup';
import { restore } from '../../src-main/engine/pipeline/restore';
import { scrub } from '../../src-main/engine/pipeline/scrub';
import { Repository } from '../../src-main/engine/repository';
import { planImage, writeImage } from './image';
import { cpuNow, threadCpu } from './s3-cpu';
import { parseSizeArg, sha256File, syncAll, timedRun } from './tools';

/** The disk of `path`'s file system and its busy milliseconds, sectors read and written so far. */
function diskNow(device: string): { busyMs: number; readBytes: number; writeBytes: number; inFlight: number; reads: number; writes: number; flushes: number } {
  for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[2] === device) return { reads: Number(f[3]), writes: Number(f[7]), flushes: Number(f[18] ?? 0), readBytes: Number(f[5]) * 512, writeBytes: Number(f[9]) * 512, inFlight: Number(f[11]), busyMs: Number(f[12]) };
  }
  return { busyMs: 0, readBytes: 0, writeBytes: 0, inFlight: 0, reads: 0, writes: 0, flushes: 0 };
}

function deviceOf(path: string): string {
  const dev = statSync(path).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  for (const name of readdirSync('/sys/block')) {
    if (readFileSync(`/sys/block/${name}/dev`, 'utf8').trim() === `${major}:${minor}`) return name;
  }
  return 'vda';
}

interface Measured { seconds: number; cpu: number; other: number; line: string }

async function measure(what: string, device: string, timeline: boolean, run: (mark: (phase: string) => void) => Promise<unknown>): Promise<Measured> {
  const rows: string[] = [];
  const threads0 = threadCpu();
  let lastThreads = threads0;
  let last = cpuNow();
  let lastDisk = diskNow(device);
  const t0 = performance.now();
  const marks: string[] = [];
  const ticker = setInterval(() => {
    const now = cpuNow();
    const disk = diskNow(device);
    const threads = threadCpu();
    const capacity = (now.t - last.t) * availableParallelism();
    const d = (name: string): number => (threads.get(name) ?? 0) - (lastThreads.get(name) ?? 0);
    let workers = 0;
    for (const [name, t] of threads) if (name.startsWith('node:') || name.startsWith('WorkerThread')) workers += t - (lastThreads.get(name) ?? 0);
    const pct = (x: number): string => String(Math.max(0, Math.round((100 * x) / (now.t - last.t)))).padStart(4);
    rows.push(`${((now.t * 1000 - t0) / 1000).toFixed(2).padStart(5)} main${pct(d('main'))} workers${pct(workers)} libuv${pct(d('libuv pool'))} other${pct(now.all - last.all - (now.own - last.own))} idle${pct(capacity - (now.all - last.all))} disk busy${pct((disk.busyMs - lastDisk.busyMs) / 1000)} read ${String(Math.round((disk.readBytes - lastDisk.readBytes) / 1e6)).padStart(4)} MB write ${String(Math.round((disk.writeBytes - lastDisk.writeBytes) / 1e6)).padStart(4)} MB inflight ${disk.inFlight}`);
    last = now;
    lastDisk = disk;
    lastThreads = threads;
  }, 100);
  const a = cpuNow();
  const disk0 = diskNow(device);
  const cpu0 = process.cpuUsage();
  await run((phase) => marks.push(`${phase} ${((performance.now() - t0) / 1000).toFixed(3)}`));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const b = cpuNow();
  const disk1 = diskNow(device);
  clearInterval(ticker);
  const threads = threadCpu();
  const parts = [...threads].map(([name, t]) => [name, t - (threads0.get(name) ?? 0)] as const).filter(([, t]) => t >= 0.01).sort((x, y) => y[1] - x[1]);
  const own = (cpu.user + cpu.system) / 1e6;
  const other = Math.max(0, Math.round((100 * (b.all - a.all - (b.own - a.own))) / ((b.t - a.t) * availableParallelism())));
  const line = `${what}: ${seconds.toFixed(3)} s; CPU ${own.toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, sys ${(cpu.system / 1e6).toFixed(2)}); other ${other} %; disk busy ${((disk1.busyMs - disk0.busyMs) / 1000).toFixed(2)} s, read ${Math.round((disk1.readBytes - disk0.readBytes) / 1e6)} MB, written ${Math.round((disk1.writeBytes - disk0.writeBytes) / 1e6)} MB (${disk1.reads - disk0.reads} reads, ${disk1.writes - disk0.writes} writes, ${disk1.flushes - disk0.flushes} flushes); RSS peak ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`;
  process.stdout.write(`${line}\n  threads: ${parts.map(([n, t]) => `${n} ${t.toFixed(2)}`).join(', ')}\n  marks: ${marks.join(', ')}\n`);
  if (timeline) process.stdout.write(`${rows.map((r) => `    ${r}`).join('\n')}\n`);
  return { seconds, cpu: own, other, line };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string): string | undefined => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const dir = arg('--dir') ?? '/tmp/blockvault-restore-profile';
  const size = parseSizeArg(arg('--size') ?? '2G');
  const runs = Number(arg('--runs') ?? 3);
  const only = arg('--only');
  const timeline = argv.includes('--timeline');
  mkdirSync(dir, { recursive: true });
  const image = join(dir, 'image.raw');
  const repoPath = arg('--repo') ?? join(dir, 'repo');
  let sha = existsSync(join(dir, 'image.sha256')) ? readFileSync(join(dir, 'image.sha256'), 'utf8').trim() : '';
  if (!existsSync(image) || !sha) {
    sha = writeImage(image, planImage(size, 'blockvault-bench-1'), 'blockvault-bench-1');
    writeFileSync(join(dir, 'image.sha256'), sha);
  }
  let repo: Repository;
  let uid: string;
  if (!existsSync(repoPath)) {
    repo = Repository.init(repoPath, { blockSize: 4 * 1024 * 1024, compression: 'zstd:1' });
    uid = (await backup(repo, { source: image, name: 'prof' })).uid;
  } else {
    repo = Repository.open(repoPath);
    uid = repo.meta.listVersions()[0].uid;
  }
  const device = deviceOf(dir);
  const refs: Record<string, number> = {};
  if (argv.includes('--refs')) {
    syncAll();
    refs.openssl = timedRun('openssl', ['dgst', '-sha256', '-r', image]).seconds;
    const copy = join(dir, 'dd-copy.raw');
    syncAll();
    refs.ddWrite = timedRun('dd', [`if=${image}`, `of=${copy}`, 'bs=4M', 'count=256', 'oflag=direct', 'status=none']).seconds;
    syncAll();
    refs.ddRead = timedRun('dd', [`if=${copy}`, 'of=/dev/null', 'bs=4M', 'iflag=direct', 'status=none']).seconds;
    unlinkSync(copy);
    process.stdout.write(`refs: openssl ${refs.openssl.toFixed(3)} s, dd write ${(1073.741824 / refs.ddWrite).toFixed(0)} MB/s, dd read ${(1073.741824 / refs.ddRead).toFixed(0)} MB/s\n`);
  }
  let stored = 0;
  for (const sub of readdirSync(join(repoPath, 'objects'), { recursive: true }) as string[]) {
    const s = statSync(join(repoPath, 'objects', sub));
    if (s.isFile()) stored += s.size;
  }
  const version = repo.meta.requireVersion(uid);
  const nonZero = [...repo.meta.iterateBlocks(version.id)].filter((b) => b.object_id !== null).reduce((n, b) => n + Math.min(version.block_size, version.size - b.idx * version.block_size), 0);
  for (let r = 0; r < runs; r++) {
    if (only !== 'scrub') {
      const target = join(arg('--target-dir') ?? dir, 'restored.raw');
      syncAll();
      const m = await measure(`restore ${r + 1}`, device, timeline, async (mark) => {
        let phase = '';
        let first = true;
        await restore(repo, {
          uid, target, progressIntervalMs: 10,
          onProgress: (p) => {
            if (p.phase !== phase) { phase = p.phase; mark(phase); }
            if (first && p.blocksDone > 0) { first = false; mark('first block done'); }
          },
        });
      });
      if (refs.openssl) {
        const floor = stored / 1e6 / (1073.741824 / refs.ddRead) + nonZero / 1e6 / (1073.741824 / refs.ddWrite);
        process.stdout.write(`  vs openssl ${(refs.openssl / m.seconds).toFixed(2)}x, vs disk floor ${(floor / m.seconds).toFixed(2)}x (floor ${floor.toFixed(3)} s)\n`);
      }
      if (argv.includes('--check') && sha256File(target) !== sha) throw new Error('restored image differs');
      unlinkSync(target);
    }
    if (only !== 'restore') {
      syncAll();
      const m = await measure(`deep scrub ${r + 1}`, device, timeline, () => scrub(repo, { uids: [uid], mode: 'deep' }));
      if (refs.openssl) {
        const floor = stored / 1e6 / (1073.741824 / refs.ddRead);
        process.stdout.write(`  vs openssl ${((refs.openssl / m.seconds)).toFixed(2)}x, vs read floor ${(floor / m.seconds).toFixed(2)}x\n`);
      }
    }
  }
  repo.close();
}

void main().then(() => process.exit(0), (error: unknown) => { process.stderr.write(`${(error as Error).stack}\n`); process.exit(1); });
