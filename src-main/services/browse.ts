// The server-side path picker of web mode: one folder at a time, listing only the entries the
// server's user can read (folders it can enter), with sizes, and block devices with their
// /dev/disk/by-id names. Paths arrive validated (absolute, no "..") by the contract's schema.
import { accessSync, constants, readdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Api } from '../../src-shared/api/contract';
import type { BrowseEntry, BrowseListing } from '../../src-shared/api/types';
import { EngineError } from '../engine/errors';
import type { ServiceContext } from './context';
import { blockDevices } from './system';

type BrowseApi = Pick<Api, 'browsePath'>;

const MAX_ENTRIES = 2000;

function readable(path: string, directory: boolean): boolean {
  try {
    accessSync(path, directory ? constants.R_OK | constants.X_OK : constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Device path -> its names under /dev/disk/by-id (links resolved). */
export function devicesById(root = '/dev/disk/by-id'): Map<string, string[]> {
  const names = new Map<string, string[]>();
  let links: string[] = [];
  try {
    links = readdirSync(root);
  } catch {
    return names;
  }
  for (const link of links.sort()) {
    try {
      const target = realpathSync(join(root, link));
      names.set(target, [...(names.get(target) ?? []), link]);
    } catch {
      // a dangling link names no device
    }
  }
  return names;
}

export function listFolder(path: string, options: { byIdRoot?: string; sysRoot?: string } = {}): BrowseListing {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw new EngineError('NOT_FOUND', `${path} does not exist`);
  }
  if (!stats.isDirectory()) throw new EngineError('INVALID_ARGUMENT', `${path} is not a folder`);
  if (!readable(path, true)) throw new EngineError('IO_ERROR', `${path}: the server's user cannot read this folder`);
  const byId = devicesById(options.byIdRoot);
  const deviceSizes = new Map(blockDevices(options.sysRoot).map((d) => [d.path, d.size]));
  const entries: BrowseEntry[] = [];
  let hidden = 0;
  let names = readdirSync(path).sort((a, b) => a.localeCompare(b));
  const truncated = names.length > MAX_ENTRIES;
  names = names.slice(0, MAX_ENTRIES);
  for (const name of names) {
    const full = path === '/' ? `/${name}` : `${path}/${name}`;
    let kind: BrowseEntry['kind'] = 'other';
    let size = 0;
    try {
      const entry = statSync(full);
      if (entry.isDirectory()) kind = 'directory';
      else if (entry.isFile()) {
        kind = 'file';
        size = entry.size;
      } else if (entry.isBlockDevice()) {
        kind = 'device';
        size = deviceSizes.get(realpathSync(full)) ?? 0;
      }
    } catch {
      hidden++;
      continue;
    }
    if (kind === 'other' || !readable(full, kind === 'directory')) {
      hidden++;
      continue;
    }
    entries.push({ name, path: full, kind, size, byId: kind === 'device' ? byId.get(realpathSync(full)) ?? [] : [] });
  }
  entries.sort((a, b) => Number(b.kind === 'directory') - Number(a.kind === 'directory') || a.name.localeCompare(b.name));
  const devices = [...deviceSizes.entries()]
    .filter(([device]) => readable(device, false))
    .map(([device, size]): BrowseEntry => ({ name: device.slice(5), path: device, kind: 'device', size, byId: byId.get(device) ?? [] }));
  return { path, parent: path === '/' ? null : dirname(path), entries, hidden, truncated, devices };
}

export function browseServices(ctx: ServiceContext): BrowseApi {
  return {
    async browsePath({ path }) {
      // Without a path: next to the open repository, else the server's user's home.
      return listFolder(path ?? (ctx.repo ? dirname(ctx.repo.path) : homedir()));
    },
  };
}
