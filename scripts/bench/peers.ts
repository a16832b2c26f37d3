// Peers: restic and borgbackup on the same image (Debian packages), timed as whole commands
// (wall time, their start-up included). Each gets its repository, cache and home under the
// benchmark directory; nothing outside it is touched.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fail, log, sha256File, syncAll, timedRun, which, withLoad, writeSecret } from './tools';

export type PeerName = 'restic' | 'borg';

export interface PeerResult {
  name: PeerName;
  version: string;
  settings: string;
  freshSeconds: number;
  rebackupSeconds: number;
  restoreSeconds: number;
  /** share of the machine other work used during each command, percent */
  otherCpuPct: { fresh: number; rebackup: number; restore: number };
  repositoryBytes?: number;
}

export interface Peer {
  name: PeerName;
  version: string;
  settings: string;
  init(): void;
  backup(label: string): number;
  /** restores the latest backup into a fresh folder; returns seconds and the restored file's path */
  restore(into: string): { seconds: number; file: string };
  repository: string;
}

export function findPeers(): { peers: PeerName[]; missing: PeerName[] } {
  const peers: PeerName[] = [];
  const missing: PeerName[] = [];
  for (const name of ['restic', 'borg'] as const) (which(name) ? peers : missing).push(name);
  return { peers, missing };
}

export function makePeer(name: PeerName, workDir: string, image: string): Peer {
  const home = join(workDir, `${name}-home`);
  const repository = join(workDir, `${name}-repo`);
  mkdirSync(home, { recursive: true });
  if (name === 'restic') {
    const passwordFile = join(home, 'password');
    writeSecret(passwordFile, 'blockvault-bench\n');
    const env = { ...process.env, RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: join(home, 'cache'), HOME: home };
    const version = timedRun('restic', ['version']).stdout.trim().split(/\s+/).slice(0, 2).join(' ');
    return {
      name, version, repository,
      settings: 'repository version 2, compression auto (zstd), password file',
      init: () => { timedRun('restic', ['init', '--repository-version', '2'], { env }); },
      backup: () => timedRun('restic', ['backup', '--quiet', image], { env }).seconds,
      restore: (into) => {
        mkdirSync(into, { recursive: true });
        const seconds = timedRun('restic', ['restore', 'latest', '--target', into], { env }).seconds;
        return { seconds, file: join(into, image) };
      },
    };
  }
  const env = {
    ...process.env,
    BORG_BASE_DIR: home,
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    BORG_DELETE_I_KNOW_WHAT_I_AM_DOING: 'YES',
  };
  const version = timedRun('borg', ['--version']).stdout.trim();
  let last = '';
  return {
    name, version, repository,
    settings: 'encryption none, default compression lz4, default chunker, extract --sparse',
    init: () => { timedRun('borg', ['init', '--encryption=none', repository], { env }); },
    backup: (label) => {
      last = label;
      return timedRun('borg', ['create', `${repository}::${label}`, image], { env }).seconds;
    },
    restore: (into) => {
      mkdirSync(into, { recursive: true });
      const seconds = timedRun('borg', ['extract', '--sparse', `${repository}::${last}`], { env, cwd: into }).seconds;
      return { seconds, file: join(into, image.replace(/^\/+/, '')) };
    },
  };
}

/** Fresh backup of the image as it is now. */
export async function peerFresh(peer: Peer): Promise<{ seconds: number; otherCpuPct: number }> {
  log(`${peer.name}: init and fresh backup`);
  peer.init();
  syncAll();
  const { value, otherCpuPct } = await withLoad(() => peer.backup('fresh'));
  return { seconds: value, otherCpuPct };
}

/** Second backup after the change, then a restore checked against the changed image's sha256. */
export async function peerSecond(peer: Peer, workDir: string, expectedSha: string): Promise<{ rebackupSeconds: number; restoreSeconds: number; otherCpuPct: { rebackup: number; restore: number } }> {
  log(`${peer.name}: second backup after the change`);
  syncAll();
  const second = await withLoad(() => peer.backup('changed'));
  syncAll();
  log(`${peer.name}: restore`);
  const into = join(workDir, `${peer.name}-restore`);
  const restored = await withLoad(() => peer.restore(into));
  const sha = sha256File(restored.value.file);
  if (sha !== expectedSha) fail(`${peer.name} restored ${restored.value.file} with sha256 ${sha}, expected ${expectedSha}`);
  rmSync(into, { recursive: true, force: true });
  return { rebackupSeconds: second.value, restoreSeconds: restored.value.seconds, otherCpuPct: { rebackup: second.otherCpuPct, restore: restored.otherCpuPct } };
}
