// Where a backup over NBD spends its CPU, against the same backup of the local file: for each
// run the wall time, this process's CPU seconds by thread (main: the NBD client; workers: hash,
// compress, store, and for the local file its reads), qemu-nbd's CPU seconds, what the rest of
// the machine used and how much of the two cores stayed idle. Kinds, run alternately:
// `local`, `nbd` (the image served by QemuNbd as Blockvault serves a qcow2: image) and
// `threads` (a qemu-nbd with its defaults, aio=threads). With --timeline, a line per 100 ms.
// Not part of `npm run bench`; run it under the bench lock:
//   flock /tmp/blockvault-bench.lock node --import tsx scripts/bench/nbd-profile.ts --dir /tmp/np [--size 2G] [--runs 3] [--kinds local,nbd,threads] [--timeline]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QemuNbd } from '../../src-main/engine/nbd/qemu-nbd';
import { backup } from '../../src-main/engine/pipeline/backup';
import { Repository } from '../../src-main/engine/repository';
import { planImage, writeImage } from './image';
import { cpuNow, threadCpu } from './s3-cpu';
import { parseSizeArg, syncAll } from './tools';
import { serve } from './vm';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};

function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds of a process so far (all its threads). */
function processCpu(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Minor page faults of a process so far. */
function processFaults(pid: number | undefined): number {
  return pid === undefined ? 0 : Number(statFields(pid)[7]);
}

function workersOf(threads: Map<string, number>, before: Map<string, number>): number {
  let sum = 0;
  for (const [name, t] of threads) if (name.startsWith('node:') || name.startsWith('WorkerThread')) sum += t - (before.get(name) ?? 0);
  return sum;
}


async function main(): Promise<void> {
  const dir = arg('--dir', '/tmp/np');
  const runs = Number(arg('--runs', '3'));
  const kinds = arg('--kinds', 'local,nbd,threads').split(',');
  mkdirSync(dir, { recursive: true });
  const image = join(dir, 'image.raw');
  if (!existsSync(image)) writeImage(image, planImage(parseSizeArg(arg('--size', '2G')), 'bench'), 'bench');
  const server = await QemuNbd.start({ image: { driver: 'raw', path: image }, readOnly: true });
  const endpoint = server.address.endpoint;
  if (endpoint.kind !== 'unix') throw new Error('QemuNbd serves on a Unix socket');
  const socket = join(dir, 'nbd-threads.sock');
  spawnSync('rm', ['-f', socket]);
  const threadsServer = await serve(image, 'raw', socket);
  const sources: Record<string, { source: string; pid: number | undefined }> = {
    local: { source: image, pid: undefined },
    nbd: { source: `nbd+unix:///${server.address.exportName}?socket=${endpoint.path}`, pid: server.pid },
    threads: { source: `nbd+unix:///disk?socket=${socket}`, pid: threadsServer.pid },
  };
  try {
    for (let run = 1; run <= runs; run++) {
      for (const kind of kinds) {
        const { source, pid } = sources[kind];
        const serverCpu = (): number => (pid === undefined ? 0 : processCpu(pid));
        const path = join(dir, `repo-${kind}`);
        spawnSync('rm', ['-rf', path]);
        const repo = Repository.init(path);
        syncAll();
        const threads0 = threadCpu();
        const a = cpuNow();
        const q0 = serverCpu();
        const faults0 = processFaults(pid);
        const ownFaults0 = process.resourceUsage().minorPageFault;
        const started = performance.now();
        let last = { threads: threads0, cpu: a, q: q0 };
        const ticker = process.argv.includes('--timeline') ? setInterval(() => {
          const now = { threads: threadCpu(), cpu: cpuNow(), q: serverCpu() };
          const dt = now.cpu.t - last.cpu.t;
          const pct = (x: number): string => String(Math.round((100 * x) / dt)).padStart(4);
          console.log(`${((performance.now() - started) / 1000).toFixed(2)} main${pct((now.threads.get('main') ?? 0) - (last.threads.get('main') ?? 0))} workers${pct(workersOf(now.threads, last.threads))} qemu-nbd${pct(now.q - last.q)} idle${pct(2 * dt - (now.cpu.all - last.cpu.all))}`);
          last = now;
        }, 100) : null;
        await backup(repo, { source, name: kind });
        const seconds = (performance.now() - started) / 1000;
        if (ticker) clearInterval(ticker);
        const b = cpuNow();
        const q = serverCpu() - q0;
        const threads1 = threadCpu();
        repo.close();
        const main = (threads1.get('main') ?? 0) - (threads0.get('main') ?? 0);
        const other = b.all - a.all - (b.own - a.own) - q;
        console.log(`${kind.padEnd(7)} run ${run}: ${seconds.toFixed(3)} s; own ${(b.own - a.own).toFixed(2)} CPU-s (main ${main.toFixed(2)}, workers ${workersOf(threads1, threads0).toFixed(2)}; ${process.resourceUsage().minorPageFault - ownFaults0} page faults); qemu-nbd ${q.toFixed(2)} (${processFaults(pid) - faults0} page faults); other ${other.toFixed(2)}; idle ${((b.t - a.t) * 2 - (b.all - a.all)).toFixed(2)}`);
      }
    }
  } finally {
    await threadsServer.stop();
    await server.stop();
  }
}

void main();
