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
import { openQcow2Source } from '../../src-main/engine/io/qcow2';
import { MALLOC_TUNABLES, QemuNbd, qemuNbdEnv } from '../../src-main/engine/nbd/qemu-nbd';
import { tempDir } from '../helpers';
import { run } from '../nbd-helpers';

const MiB = 1024 * 1024;

function qemuNbdChildren(): number[] {
  return spawnSync('pgrep', ['-P', String(process.pid), 'qemu-nbd']).stdout.toString().trim().split('\n').filter(Boolean).map(Number);
}

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

test('a qemu-nbd that refuses io_uring is started again with its default, once; later starts skip io_uring', { timeout: 60000 }, async () => {
  const dir = tempDir();
  const { image, raw } = qcow2(dir);
  const bin = join(dir, 'bin');
  const log = join(dir, 'starts.log');
  run('mkdir', [bin]);
  const real = spawnSync('sh', ['-c', 'command -v qemu-nbd']).stdout.toString().trim();
  writeFileSync(join(bin, 'qemu-nbd'), [
    '#!/bin/sh',
    `printf '%s\\n' "$*" >> '${log}'`,
    'case "$*" in *io_uring*)',
    `  echo "qemu-nbd: Failed to blk_new_open '$*': Unable to use io_uring: failed to init linux io_uring ring" >&2; exit 1;;`,
    'esac',
    `exec '${real}' "$@"`,
    '',
  ].join('\n'));
  chmodSync(join(bin, 'qemu-nbd'), 0o755);
  const folders = privateFolders();
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    const first = await readThrough(image);
    assert.ok(first.bytes.equals(raw));
    assert.doesNotMatch(first.cmdline, /io_uring/);
    let starts = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(starts.length, 2);
    assert.match(starts[0], /"aio":"io_uring"/);
    assert.doesNotMatch(starts[1], /io_uring/);
    assert.equal(QemuNbd.aioFor({ driver: 'qcow2', path: image }), undefined);

    const second = await readThrough(image);
    assert.ok(second.bytes.equals(raw));
    starts = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(starts.length, 3);
    assert.doesNotMatch(starts[2], /io_uring/);
  } finally {
    process.env.PATH = path;
  }
  // the refused server left no process and no private folder behind
  assert.deepEqual(qemuNbdChildren(), []);
  assert.deepEqual(privateFolders(), folders);
});

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
