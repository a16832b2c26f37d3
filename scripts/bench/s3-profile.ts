// Where an S3 backup's (and, with --restore, a restore's) CPU goes: backs up the bench image
// into a fresh bucket of the local RGW and, as the reference, has the SDK alone put the same
// objects (with --restore: restores the version to a file, checked by sha256, and has the SDK
// alone get the same objects), and prints for each the wall
// time, this process's CPU seconds by thread (main, workers, libuv), and the CPU seconds of
// the Ceph daemons (RGW and the OSD run on the same cores). CPU seconds survive a busy
// machine better than wall time. Not part of `npm run bench`; run it with
//   node scripts/build-node.mjs && node out/node/s3-profile.js [--size 1G] [--image FILE] [--runs N] [--workers N] [--slots N] [--no-reference] [--restore] [--no-backup-reference]
// (`--cpu-prof` on node, or NODE_OPTIONS=--cpu-prof, profiles the main thread and the workers).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { backup } from '../../src-main/engine/pipeline/backup';
import { restore } from '../../src-main/engine/pipeline/restore';
import { Repository } from '../../src-main/engine/repository';
import { s3OptionsFromEnvironment, s3Spec } from '../../src-main/engine/store/location';
import { planImage, writeImage } from './image';
import { cpuNow, threadCpu, withS3Cpu } from './s3-cpu';
import { adminBucket, listObjects, sdkDownload, sdkUpload } from './s3-reference';
import { parseSizeArg, sha256File } from './tools';

/** Runs `run`, then prints its wall time and CPU seconds: this process by thread, Ceph, the rest. */
async function measure<T>(what: string, run: () => Promise<T>): Promise<T> {
  // A timeline: every 250 ms this process's, Ceph's and everything else's share of the cores.
  const timeline: string[] = [];
  let last = cpuNow();
  const ticker = setInterval(() => {
    const now = cpuNow();
    const capacity = (now.t - last.t) * availableParallelism();
    const own = now.own - last.own;
    const ceph = now.ceph - last.ceph;
    const pct = (x: number): string => String(Math.max(0, Math.round((100 * x) / capacity))).padStart(4);
    timeline.push(`${pct(own)}${pct(ceph)}${pct(now.all - last.all - own - ceph)}${pct(capacity - (now.all - last.all))}`);
    last = now;
  }, 250);
  const threads0 = threadCpu();
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  const { value, cpu: s } = await withS3Cpu(run);
  const cpu = process.cpuUsage(cpu0);
  clearInterval(ticker);
  const threads = threadCpu();
  const parts = [...threads].map(([name, t]) => [name, t - (threads0.get(name) ?? 0)] as const).filter(([, t]) => t >= 0.01).sort((a, b) => b[1] - a[1]);
  process.stdout.write(`${what}: ${s.seconds.toFixed(2)} s wall; this process ${s.ownCpuSeconds.toFixed(2)} CPU-s (user ${(cpu.user / 1e6).toFixed(2)}, sys ${(cpu.system / 1e6).toFixed(2)}); ceph ${s.cephCpuSeconds.toFixed(2)} CPU-s; other ${s.otherCpuPct} % of the cores; idle ${s.idleCpuSeconds.toFixed(2)} CPU-s; peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB; ${process.resourceUsage().minorPageFault - faults0} page faults\n`);
  process.stdout.write(`  threads: ${parts.map(([n, t]) => `${n} ${t.toFixed(2)}`).join(', ')}\n`);
  if (process.env.S3_PROFILE_TIMELINE) process.stdout.write(`  per 250 ms, % of the cores (ours ceph other idle):\n${timeline.map((line, i) => `   ${(i * 0.25).toFixed(2).padStart(5)} ${line}`).join('\n')}\n`);
  return value;
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
  let imageSha: string | undefined;
  try {
    for (let r = 0; r < runs; r++) {
      const spec = await s3Spec({ kind: 's3', bucket: `bv-prof-${randomBytes(5).toString('hex')}`, prefix: 'repo' }, options);
      await adminBucket(spec, true);
      const repo = await Repository.initS3(spec, { blockSize: 4 * 1024 * 1024, compression: 'zstd:1' });
      try {
        const phases: string[] = [];
        let phase = '';
        const t0 = performance.now();
        const backedUp = await measure('engine backup', () => backup(repo, {
          source: image!, name: 'prof', workers, slotsPerWorker: arg('--slots') ? Number(arg('--slots')) : undefined, progressIntervalMs: 50,
          onProgress: (p) => { if (p.phase !== phase) { phase = p.phase; phases.push(`${phase} at ${((performance.now() - t0) / 1000).toFixed(2)} s`); } },
        }));
        process.stdout.write(`  phases: ${phases.join(', ')}, done at ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
        const objects = await listObjects(spec);
        if (!argv.includes('--no-reference') && !argv.includes('--no-backup-reference')) await measure(`SDK put of ${objects.length} objects`, () => sdkUpload(spec, objects, 'sdk-reference'));
        if (argv.includes('--restore')) {
          const target = join(work, 'restored.raw');
          const phasesR: string[] = [];
          let phaseR = '';
          const t1 = performance.now();
          await measure('engine restore', () => restore(repo, {
            uid: backedUp.uid, target, workers, progressIntervalMs: 50,
            onProgress: (p) => { if (p.phase !== phaseR) { phaseR = p.phase; phasesR.push(`${phaseR} at ${((performance.now() - t1) / 1000).toFixed(2)} s`); } },
          }));
          process.stdout.write(`  phases: ${phasesR.join(', ')}, done at ${((performance.now() - t1) / 1000).toFixed(2)} s\n`);
          imageSha ??= sha256File(image!);
          if (sha256File(target) !== imageSha) throw new Error('the restored file differs from the image');
          rmSync(target);
          if (!argv.includes('--no-reference')) await measure(`SDK get of ${objects.length} objects`, () => sdkDownload(spec, objects));
        }
      } finally {
        for await (const entry of repo.store.list('')) await repo.store.delete(entry.key);
        repo.close();
        await adminBucket(spec, false);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

void main().then(() => process.exit(0), (error: unknown) => { process.stderr.write(`${(error as Error).stack}\n`); process.exit(1); });
