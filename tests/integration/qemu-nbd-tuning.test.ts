// How Blockvault runs its private qemu-nbd. It opens a file image with aio=io_uring where the
// kernel allows it (fewer CPU seconds per byte read than qemu's thread pool), and, where
// io_uring is refused (a container's seccomp profile, kernel.io_uring_disabled), with qemu's
// default after one refused start; later starts then skip io_uring. A fake qemu-nbd first on
// PATH refuses io_uring the way qemu 7.2 does and hands every other start to the real one. Its
// own file: the refusal is remembered for the rest of the process. And qemu-nbd runs with
// glibc's malloc thresholds fixed, so its per-request buffers are reused instead of mapped
// afresh (with glibc's defaults, every page of every read faulted).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EngineError } from '../../src-main/engine/errors';
import { NbdSource } from '../../src-main/engine/io/nbd';
import { createQcow2Target, openQcow2Source } from '../../src-main/engine/io/qcow2';
import { forgetIoUringRefusal, MALLOC_TUNABLES, QemuNbd, qemuNbdEnv } from '../../src-main/engine/nbd/qemu-nbd';
import { tempDir } from '../helpers';
import { qemuNbdChildren, run } from '../nbd-helpers';

const MiB = 1024 * 1024;

function privateFolders(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('blockvault-nbd-')).sort();
}

/** A qcow2 with known bytes at known offsets, and the raw image qemu-img makes of it. */
function qcow2(dir: string): { image: string; raw: Buffer } {
  const image = join(dir, 'vm.qcow2');
  run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
  run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 300k', '-c', 'write -P 0xa5 9M 4M', image]);
  const rawPath = join(dir, 'vm.raw');
  run('qemu-img', ['convert', '-O', 'raw', image, rawPath]);
  return { image, raw: readFileSync(rawPath) };
}

async function readThrough(image: string): Promise<{ bytes: Buffer; cmdline: string }> {
  const source = await openQcow2Source(image);
  try {
    const [pid] = qemuNbdChildren();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const bytes = Buffer.alloc(source.size!);
    for (let offset = 0; offset < bytes.length; offset += 4 * MiB) await source.read(offset, bytes.subarray(offset), Math.min(4 * MiB, bytes.length - offset));
    return { bytes, cmdline };
  } finally {
    await source.close();
  }
}

test('here, where the kernel allows io_uring, a qcow2 is served with aio=io_uring and reads its guest disk', { timeout: 60000 }, async () => {
  const disabled = existsSync('/proc/sys/kernel/io_uring_disabled') ? readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() : '0';
  const { image, raw } = qcow2(tempDir());
  const { bytes, cmdline } = await readThrough(image);
  assert.ok(bytes.equals(raw));
  if (disabled === '0') assert.match(cmdline, /"aio":"io_uring"/);
  else assert.doesNotMatch(cmdline, /io_uring/);
  assert.deepEqual(qemuNbdChildren(), []);
});

test('an image qemu-nbd cannot open fails with its own error, and io_uring stays on (every error quotes the spec that names it)', { timeout: 60000 }, async () => {
  const dir = tempDir();
  const missing = join(dir, 'missing.qcow2');
  // qemu-nbd listens before it opens the image: the start (NOT_FOUND, when its end is seen
  // first) or the connection (IO_ERROR) fails, by how the two race
  await assert.rejects(QemuNbd.serve({ image: { driver: 'qcow2', path: missing }, readOnly: true }, (server) => NbdSource.open(server.address, missing, {}, server)), (error: EngineError) => ['NOT_FOUND', 'IO_ERROR'].includes(error.code));
  const { image } = qcow2(dir);
  await assert.rejects(openQcow2Source(image, { bitmap: 'nope' }), (error: EngineError) => error.code === 'NOT_FOUND' && /no persistent bitmap named nope/.test(error.message));
  assert.equal(QemuNbd.aioFor({ driver: 'qcow2', path: image }), 'io_uring');
  assert.deepEqual(qemuNbdChildren(), []);
});

/**
 * A qemu-nbd first on PATH that refuses io_uring in qemu 7.2's words, either before it listens
 * or, as qemu-nbd 7.2 itself does, after it listens (a connection then finds it gone); it logs
 * every start's arguments and hands the starts without io_uring to the real qemu-nbd.
 */
function refusingQemuNbd(dir: string, when: 'before listening' | 'after listening'): { bin: string; starts: () => string[] } {
  const bin = join(dir, 'bin');
  const log = join(dir, 'starts.log');
  run('mkdir', [bin]);
  const real = spawnSync('sh', ['-c', 'command -v qemu-nbd']).stdout.toString().trim();
  const message = `qemu-nbd: Failed to blk_new_open 'json:...': Unable to use io_uring: failed to init linux io_uring ring`;
  writeFileSync(join(bin, 'listen-then-refuse.js'), [
    "const args = process.argv.slice(2);",
    "const server = require('node:net').createServer().listen(args[args.indexOf('--socket') + 1], () => {",
    `  setTimeout(() => { process.stderr.write(${JSON.stringify(`${message}\n`)}); process.exit(1); }, 100);`,
    '});',
    '',
  ].join('\n'));
  writeFileSync(join(bin, 'qemu-nbd'), [
    '#!/bin/sh',
    `printf '%s\\n' "$*" >> '${log}'`,
    'case "$*" in *io_uring*)',
    when === 'before listening' ? `  echo ${JSON.stringify(message)} >&2; exit 1;;` : `  exec '${process.execPath}' '${join(bin, 'listen-then-refuse.js')}' "$@";;`,
    'esac',
    `exec '${real}' "$@"`,
    '',
  ].join('\n'));
  chmodSync(join(bin, 'qemu-nbd'), 0o755);
  return { bin, starts: () => readFileSync(log, 'utf8').trim().split('\n') };
}

for (const when of ['before listening', 'after listening'] as const) {
  test(`a qemu-nbd that refuses io_uring ${when} is started again with its default, once; later starts skip io_uring; a qcow2 restore too`, { timeout: 60000 }, async () => {
    forgetIoUringRefusal();
    const dir = tempDir();
    const { image, raw } = qcow2(dir);
    const fake = refusingQemuNbd(dir, when);
    const folders = privateFolders();
    const path = process.env.PATH;
    process.env.PATH = `${fake.bin}:${path}`;
    try {
      const first = await readThrough(image);
      assert.ok(first.bytes.equals(raw));
      assert.doesNotMatch(first.cmdline, /io_uring/);
      let starts = fake.starts();
      assert.equal(starts.length, 2);
      assert.match(starts[0], /"aio":"io_uring"/);
      assert.doesNotMatch(starts[1], /io_uring/);
      assert.equal(QemuNbd.aioFor({ driver: 'qcow2', path: image }), undefined);

      const second = await readThrough(image);
      assert.ok(second.bytes.equals(raw));
      starts = fake.starts();
      assert.equal(starts.length, 3);
      assert.doesNotMatch(starts[2], /io_uring/);

      // a restore into a new qcow2 refused the same way keeps its temporary image for the second start
      forgetIoUringRefusal();
      const restored = join(dir, 'restored.qcow2');
      const target = await createQcow2Target(restored, raw.length);
      for (let offset = 0; offset < raw.length; offset += 4 * MiB) await target.write(offset, raw.subarray(offset, offset + 4 * MiB));
      await target.finish(raw.length);
      starts = fake.starts();
      assert.equal(starts.length, 5);
      assert.match(starts[3], /"aio":"io_uring"/);
      assert.doesNotMatch(starts[4], /io_uring/);
      assert.match(run('qemu-img', ['compare', image, restored]), /identical/);
    } finally {
      process.env.PATH = path;
    }
    // the refused servers left no process, no private folder and no temporary image behind
    assert.deepEqual(qemuNbdChildren(), []);
    assert.deepEqual(privateFolders(), folders);
    assert.deepEqual(readdirSync(dir).sort(), ['bin', 'restored.qcow2', 'starts.log', 'vm.qcow2', 'vm.raw']);
  });
}

test('an RBD image has no aio mode to choose', () => {
  assert.equal(QemuNbd.aioFor({ driver: 'rbd', pool: 'rbd', image: 'vm' }), undefined);
});

test('qemu-nbd runs with the malloc tunables added to any the user set', () => {
  assert.equal(qemuNbdEnv({ PATH: '/bin' }).GLIBC_TUNABLES, MALLOC_TUNABLES);
  assert.equal(qemuNbdEnv({ GLIBC_TUNABLES: 'glibc.cpu.x86_shstk=off' }).GLIBC_TUNABLES, `glibc.cpu.x86_shstk=off:${MALLOC_TUNABLES}`);
  assert.equal(qemuNbdEnv({ PATH: '/bin' }).PATH, '/bin');
});

test('reading 64 MiB through our qemu-nbd reuses its request buffers: far fewer page faults than pages read', { timeout: 60000 }, async () => {
  const dir = tempDir();
  const image = join(dir, 'vm.qcow2');
  run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M']);
  run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x33 0 64M', image]);
  const source = await openQcow2Source(image);
  try {
    const [pid] = qemuNbdChildren();
    const faults = (): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[7]);
    const buffer = Buffer.alloc(4 * MiB);
    await source.read(0, buffer, 4 * MiB); // the first requests' buffers are new
    const before = faults();
    for (let offset = 4 * MiB; offset < 64 * MiB; offset += 4 * MiB) {
      await source.read(offset, buffer, 4 * MiB);
      assert.ok(buffer.every((byte) => byte === 0x33));
    }
    const pages = (60 * MiB) / 4096;
    const faulted = faults() - before;
    // glibc's defaults map and unmap each 256 KiB buffer: a fault per page read (15,360 here; about 2,000 with the tunables)
    assert.ok(faulted < pages / 4, `${faulted} page faults for ${pages} pages read`);
  } finally {
    await source.close();
  }
});
