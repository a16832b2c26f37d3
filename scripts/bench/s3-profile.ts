// Where an S3 backup's CPU goes: backs up the bench image into a fresh bucket of the local RGW
// and, as the reference, has the SDK alone put the same objects, and prints for each the wall
// time, this process's CPU seconds by thread (main, workers, libuv), and the CPU seconds of
// the Ceph daemons (RGW and the OSD run on the same cores). CPU seconds survive a busy
// machine better than wall time. Not part of `npm run bench`; run it with
//   node scripts/build-node.mjs && node out/node/s3-profile.js [--size 1G] [--image FILE] [--runs N] [--workers N]
// (`--cpu-prof` on node, or NODE_OPTIONS=--cpu-prof, profiles the main thread and the workers).
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { backup } from '../../src-main/engine/pipeline/backup';
import { Repository } from '../../src-main/engine/repository';
import { s3OptionsFromEnvironment, s3Spec } from '../../src-main/engine/store/location';
import type { S3Spec } from '../../src-main/engine/store/s3';
import { planImage, writeImage } from './image';
import { listObjects, sdkUpload } from './s3-reference';
import { parseSizeArg } from './tools';

const TICK = 100;

/** CPU seconds of every thread of this process, by thread name. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpu = (Number(fields[11]) + Number(fields[12])) / TICK;
      const key = name.startsWith('libuv-worker') ? 'libuv pool' : tid === String(process.pid) ? 'main' : `${name}:${tid}`;
      out.set(key, (out.get(key) ?? 0) + cpu);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** The Ceph daemons' process ids (RGW and the OSD run on the same cores as the engine). */
let cephPids: string[] | null = null;
function cephProcesses(): string[] {
  cephPids ??= readdirSync('/proc').filter((pid) => {
    try {
      return /^\d+$/.test(pid) && /\((radosgw|ceph-osd|ceph-mon|ceph-mgr)\)/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  });
  return cephPids;
}

/** CPU seconds of the Ceph daemons and of everything (all cores, from /proc/stat). */
function systemCpu(): { ceph: number; all: number } {
  let ceph = 0;
  for (const pid of cephProcesses()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ceph += (Number(fields[11]) + Number(fields[12])) / TICK;
    } catch {
      // gone
    }
  }
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { ceph, all: (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / TICK };
}

/** This process's CPU seconds so far (all threads). */
function ownCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function measure<T>(what: string, run: () => Promise<T>): Promise<T> {
  // A timeline: every 250 ms this process's, Ceph's and everything else's share of the 2 cores.
  const timeline: string[] = [];
  let last = { t: performance.now(), own: ownCpu(), ...systemCpu() };
  const ticker = setInterval(() => {
    const now = { t: performance.now(), own: ownCpu(), ...systemCpu() };
    const capacity = ((now.t - last.t) / 1000) * 2;
    const own = now.own - last.own;
    const ceph = now.ceph - last.ceph;
    const other = now.all - last.all - own - ceph;
    const pct = (x: number): string => String(Math.max(0, Math.round((100 * x) / capacity))).padStart(3);
    timeline.push(`${pct(own)}${pct(ceph)}${pct(other)}${pct(capacity - (now.all - last.all))}`);
    last = now;
  }, 250);
  const t0 = performance.now();
  const threads0 = threadCpu();
  const sys0 = systemCpu();
  const cpu0 = process.cpuUsage();
  const value = await run();
  const cpu = process.cpuUsage(cpu0);
  clearInterval(ticker);
  const seconds = (performance.now() - t0) / 1000;
  const sys = systemCpu();
  const threads = threadCpu();
  const ours = (cpu.user + cpu.system) / 1e6;
  const ceph = sys.ceph - sys0.ceph;
  const other = sys.all - sys0.all - ours - ceph;
  const idle = 2 * seconds - (sys.all - sys0.all);
  const parts = [...threads].map(([name, s]) => [name, s - (threads0.get(name) ?? 0)] as const).filter(([, s]) => s >= 0.01).sort((a, b) => b[1] - a[1]);
  process.stdout.write(`${what}: ${seconds.toFixed(2)} s wall; this process ${ours.toFixed(2)} CPU-s (user ${(cpu.user / 1e6).toFixed(2)}, sys ${(cpu.system / 1e6).toFixed(2)}); ceph ${ceph.toFixed(2)} CPU-s; other ${other.toFixed(2)} CPU-s (${Math.round((100 * other) / (2 * seconds))} % of 2 cores); idle ${idle.toFixed(2)} CPU-s\n`);
  process.stdout.write(`  threads: ${parts.map(([n, s]) => `${n} ${s.toFixed(2)}`).join(', ')}\n`);
  if (process.env.S3_PROFILE_TIMELINE) process.stdout.write(`  per 250 ms, % of 2 cores (ours ceph other idle):\n${timeline.map((line, i) => `   ${(i * 0.25).toFixed(2).padStart(5)} ${line}`).join('\n')}\n`);
  return value;
}

async function bucket(spec: S3Spec, create: boolean): Promise<void> {
  const client = new S3Client({ region: spec.region, endpoint: spec.endpoint, forcePathStyle: spec.pathStyle, credentials: spec.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  try {
    await client.send(create ? new CreateBucketCommand({ Bucket: spec.bucket }) : new DeleteBucketCommand({ Bucket: spec.bucket }));
  } finally {
    client.destroy();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string): string | undefined => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const size = parseSizeArg(arg('--size') ?? '1G');
  const runs = Number(arg('--runs') ?? 1);
  const workers = arg('--workers') ? Number(arg('--workers')) : undefined;
  const work = mkdtempSync(join(tmpdir(), 'blockvault-s3prof-'));
  let image = arg('--image');
  if (!image || !existsSync(image)) {
    image ??= join(work, 'image.raw');
    writeImage(image, planImage(size, 'blockvault-bench-1'), 'blockvault-bench-1');
  }
  process.env.XDG_STATE_HOME = join(work, 'state');
  if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE) Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret' });
  const options = s3OptionsFromEnvironment({ endpoint: process.env.BLOCKVAULT_S3_ENDPOINT ? undefined : 'http://127.0.0.1:7480', pathStyle: true });
  try {
    for (let r = 0; r < runs; r++) {
      const spec = await s3Spec({ kind: 's3', bucket: `bv-prof-${randomBytes(5).toString('hex')}`, prefix: 'repo' }, options);
      await bucket(spec, true);
      const repo = await Repository.initS3(spec, { blockSize: 4 * 1024 * 1024, compression: 'zstd:1' });
      try {
        await measure('engine backup', () => backup(repo, { source: image!, name: 'prof', workers }));
        const objects = await listObjects(spec);
        await measure(`SDK put of ${objects.length} objects`, () => sdkUpload(spec, objects, 'sdk-reference'));
      } finally {
        for await (const entry of repo.store.list('')) await repo.store.delete(entry.key);
        repo.close();
        await bucket(spec, false);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

void main().then(() => process.exit(0), (error: unknown) => { process.stderr.write(`${(error as Error).stack}\n`); process.exit(1); });
