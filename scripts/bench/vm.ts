// `npm run bench -- --nbd` and `-- --qcow2`: VM disk figures (issue 10), each on its own.
// --nbd: a mixed image served by qemu-nbd: our backup over NBD vs our backup of the same image
// as a local file; our client reading the export vs `nbdcopy URL null:`.
// --qcow2: a qcow2 with 1% of its blocks rewritten: a bitmap incremental's bytes read vs the
// dirty bytes, and its time vs a full reread (an incremental from the same base without hints).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NbdClient } from '../../src-main/engine/nbd/client';
import { parseNbdUrl } from '../../src-main/engine/nbd/address';
import { backup } from '../../src-main/engine/pipeline/backup';
import { Repository } from '../../src-main/engine/repository';
import { planChanges, planImage, writeImage } from './image';
import { formatBytes, log, syncAll } from './tools';

function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  return work().then((value) => ({ seconds: Number(process.hrtime.bigint() - started) / 1e9, value }));
}

function sh(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed`);
}

async function serve(file: string, format: string, socket: string, extra: string[] = []): Promise<() => Promise<void>> {
  const child = spawn('qemu-nbd', ['-r', '-t', '-k', socket, '-x', 'disk', '-f', format, ...extra, file], { stdio: 'ignore' });
  for (let i = 0; i < 500 && !existsSync(socket); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return () => new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); });
}

function line(label: string, value: string, target: string, ok: boolean): void {
  log(`${label.padEnd(52)} ${value.padStart(14)}   target ${target.padEnd(8)} ${ok ? 'met' : 'MISSED'}`);
}

export async function runNbdBench(work: string, size: number, seed: string): Promise<void> {
  const image = join(work, 'image.raw');
  const plan = planImage(size, seed);
  writeImage(image, plan, seed);
  const socket = join(work, 'nbd.sock');
  const stop = await serve(image, 'raw', socket);
  const url = `nbd+unix:///disk?socket=${socket}`;
  try {
    syncAll();
    const localRepo = Repository.init(join(work, 'repo-local'));
    const local = await timed(() => backup(localRepo, { source: image, name: 'local' }));
    localRepo.close();
    syncAll();
    const nbdRepo = Repository.init(join(work, 'repo-nbd'));
    const overNbd = await timed(() => backup(nbdRepo, { source: url, name: 'nbd' }));
    nbdRepo.close();
    const client = await NbdClient.connect(parseNbdUrl(url));
    const ours = await timed(async () => {
      const chunk = 4 * 1024 * 1024;
      const buffers = Array.from({ length: 8 }, () => Buffer.alloc(chunk));
      let next = 0;
      await Promise.all(buffers.map(async (buffer) => {
        for (;;) {
          const offset = next;
          next += chunk;
          if (offset >= client.size) return;
          await client.read(offset, Math.min(chunk, client.size - offset), buffer);
        }
      }));
    });
    await client.close();
    const nbdcopy = await timed(async () => sh('nbdcopy', [url, 'null:']));
    log(`--nbd: ${formatBytes(size)} mixed image served by qemu-nbd`);
    const backupRatio = local.seconds / overNbd.seconds;
    line(`backup over NBD / backup of the local file (${overNbd.seconds.toFixed(2)} s vs ${local.seconds.toFixed(2)} s)`, `${backupRatio.toFixed(2)}x`, '>= 0.8x', backupRatio >= 0.8);
    const readRatio = nbdcopy.seconds / ours.seconds;
    line(`our client read / nbdcopy to null: (${ours.seconds.toFixed(2)} s vs ${nbdcopy.seconds.toFixed(2)} s)`, `${readRatio.toFixed(2)}x`, '>= 0.9x', readRatio >= 0.9);
  } finally {
    await stop();
  }
}

export async function runQcow2Bench(work: string, size: number, seed: string): Promise<void> {
  const raw = join(work, 'image.raw');
  const image = join(work, 'image.qcow2');
  const plan = planImage(size, seed);
  writeImage(raw, plan, seed);
  sh('qemu-img', ['convert', '-O', 'qcow2', raw, image]);
  const repo = Repository.init(join(work, 'repo'));
  try {
    const full = await backup(repo, { source: `qcow2:${image}`, name: 'vm', bitmap: 'bench', rotateBitmap: true });
    // 1% of the repository's blocks rewritten whole (as a guest rewriting files would)
    const blockSize = repo.blockSize;
    const changes = planChanges(plan, seed, 0.01).map((change) => change.block).filter((block) => (block + 1) * blockSize <= size);
    sh('qemu-io', ['-f', 'qcow2', ...changes.flatMap((block, i) => ['-c', `write -P ${(i % 250) + 1} ${block * blockSize} ${blockSize}`]), image]);
    syncAll();
    const incremental = await timed(() => backup(repo, { source: `qcow2:${image}`, name: 'vm', from: full.uid, bitmap: 'bench', hintSamples: 0 }));
    syncAll();
    const reread = await timed(() => backup(repo, { source: `qcow2:${image}`, name: 'vm', from: full.uid, hints: [{ offset: 0, length: size, exists: true }], hintSamples: 0 }));
    const dirtyBytes = changes.length * blockSize;
    const bytesRatio = incremental.value.stats.bytesRead / dirtyBytes;
    const speedup = reread.seconds / incremental.seconds;
    log(`--qcow2: ${formatBytes(size)} qcow2, ${changes.length} of its ${formatBytes(blockSize)} blocks rewritten`);
    line(`bitmap incremental bytes read / dirty bytes (${formatBytes(incremental.value.stats.bytesRead)})`, `${bytesRatio.toFixed(2)}x`, '<= 1.5x', bytesRatio <= 1.5);
    line(`full reread / bitmap incremental (${reread.seconds.toFixed(2)} s vs ${incremental.seconds.toFixed(2)} s)`, `${speedup.toFixed(1)}x`, '>= 30x', speedup >= 30);
  } finally {
    repo.close();
  }
}
