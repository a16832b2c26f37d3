// System services: what the wizards need to know about the machine: block devices (from
// sysfs), facts about a path, native dialogs when the shell has them, and ping.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Api } from '../../src-shared/api/contract';
import type { BlockDevice, PathInfo } from '../../src-shared/api/types';
import { REPOSITORY_CONFIG_FILE } from '../engine/format';
import { inspectTarget } from '../engine/io';
import type { ServiceContext } from './context';

type SystemApi = Pick<Api, 'ping' | 'getAppInfo' | 'listBlockDevices' | 'inspectPath' | 'pickPath'>;

export const APP_VERSION = '0.1.0';

function readSys(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Disks and their partitions from /sys/block; empty where sysfs is not there. */
export function blockDevices(sysRoot = '/sys/block'): BlockDevice[] {
  let names: string[];
  try {
    names = readdirSync(sysRoot);
  } catch {
    return [];
  }
  const devices: BlockDevice[] = [];
  for (const name of names.sort()) {
    const dir = join(sysRoot, name);
    const size = Number(readSys(join(dir, 'size'))) * 512;
    if (!(size > 0) || /^(ram|zram)\d/.test(name)) continue;
    const model = readSys(join(dir, 'device', 'model')) || (name.startsWith('loop') ? `loop (${readSys(join(dir, 'loop', 'backing_file')) || 'no file'})` : '');
    const disk: BlockDevice = { path: `/dev/${name}`, name, size, model, readOnly: readSys(join(dir, 'ro')) === '1', removable: readSys(join(dir, 'removable')) === '1' };
    devices.push(disk);
    let children: string[] = [];
    try {
      children = readdirSync(dir).filter((child) => child.startsWith(name) && existsSync(join(dir, child, 'partition')));
    } catch {
      children = [];
    }
    for (const child of children.sort()) {
      const partSize = Number(readSys(join(dir, child, 'size'))) * 512;
      if (partSize > 0) devices.push({ path: `/dev/${child}`, name: child, size: partSize, model: `partition of ${name}`, readOnly: readSys(join(dir, child, 'ro')) === '1', removable: disk.removable });
    }
  }
  return devices;
}

export function inspectPath(path: string): PathInfo {
  let kind: PathInfo['kind'] = 'missing';
  let size = 0;
  try {
    const stats = statSync(path);
    if (stats.isDirectory()) kind = 'directory';
    else if (stats.isFile() || stats.isBlockDevice()) {
      const target = inspectTarget(path);
      kind = target.isDevice ? 'device' : 'file';
      size = target.size;
    } else kind = 'other';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') kind = 'other';
  }
  let parentExists = true;
  if (kind === 'missing') {
    try {
      parentExists = statSync(dirname(path)).isDirectory();
    } catch {
      parentExists = false;
    }
  }
  return { path, kind, size, parentExists, isRepository: kind === 'directory' && existsSync(join(path, REPOSITORY_CONFIG_FILE)) };
}

export function systemServices(ctx: ServiceContext): SystemApi {
  return {
    async ping({ sent }) {
      return { time: Date.now(), sent: sent ?? null };
    },
    async getAppInfo() {
      return { version: APP_VERSION, mode: ctx.options.mode, nativeDialogs: Boolean(ctx.options.dialogs), platform: process.platform };
    },
    async listBlockDevices() {
      return blockDevices();
    },
    async inspectPath({ path }) {
      return inspectPath(path);
    },
    async pickPath({ purpose, defaultPath }) {
      if (!ctx.options.dialogs) return null;
      return ctx.options.dialogs.pick(purpose, defaultPath);
    },
  };
}
