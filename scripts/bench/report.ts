// The readable table of a benchmark run: references, engine figures with their ratios and
// targets, peers, memory and repository size.
import type { ImagePlan } from './image';
import type { PeerResult } from './peers';
import type { SparseResult } from './sparse';
import { formatBytes, rate } from './tools';

export interface Check {
  name: string;
  value: number;
  target: number;
  unit: 'x' | 'MB';
  /** the value must stay at or below the target (memory) */
  atMost?: boolean;
  /** a second way to meet the target ("1.2x openssl or 0.9x the disk floor, whichever is lower"):
   *  the check passes when either ratio reaches its own target */
  or?: { label: string; value: number; target: number };
}

export function checkPasses(c: Check): boolean {
  const main = c.atMost ? c.value <= c.target : c.value >= c.target;
  return main || (c.or !== undefined && c.or.value >= c.or.target);
}

interface Figure { seconds: number; mbps: number; otherCpuPct: number; cpuUserSeconds: number; cpuSysSeconds: number; syncSeconds: number | null }

export interface TableInput {
  size: number;
  plan: ImagePlan;
  startupMs: number;
  refs: Record<string, { seconds: number; mbps: number; note: string; otherCpuPct: number }>;
  engine: Record<string, unknown>;
  report: Record<string, unknown>;
  checks: Check[];
  peers: PeerResult[];
  sparse: SparseResult | null;
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
}

function grid(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = widths.map((w) => '-'.repeat(w)).join('  ');
  return [pad(header, widths), line, ...rows.map((r) => pad(r, widths))].join('\n');
}

const fx = (value: number): string => `${value.toFixed(2)}x`;
const fs = (seconds: number): string => seconds.toFixed(3);
const fm = (mbps: number): string => mbps.toFixed(0);
const pct = (value: number): string => `${value}%`;

export function printTable(input: TableInput): string {
  const { size, plan, startupMs, refs, engine, report, checks, peers, sparse } = input;
  const out: string[] = [];
  const image = report.image as { generationSeconds: number; changedBlocks: number };
  const machine = report.machine as { cpus: number; node: string; loadAverage1mAtStart: number };
  out.push(`Blockvault benchmark: ${formatBytes(size)} image, ${plan.blockCount} blocks of 4 MiB: ${plan.counts.random} random, ${plan.counts.text} text-like, ${plan.counts.zero} zero, ${plan.counts.repeat} repeats (generated in ${image.generationSeconds.toFixed(1)} s)`);
  out.push(`machine: ${machine.cpus} cores, Node ${machine.node}, load average ${machine.loadAverage1mAtStart} at start, ${String(report.loadAverage1mAtEnd)} at end; MB = 10^6 bytes`);
  out.push(`page cache: warm (the image was read once with cat > /dev/null first; caches cannot be dropped here)`);
  out.push(`Node start-up (node -e 0, median of 5): ${startupMs.toFixed(0)} ms, excluded from the engine times below`);
  out.push('');
  out.push(grid(['reference', 'seconds', 'MB/s', 'other CPU'], Object.values(refs).map((r) => [r.note, fs(r.seconds), fm(r.mbps), pct(r.otherCpuPct)])));
  out.push('');

  const row = (label: string, key: string, refName: string | null, versus: (f: Figure) => string, target: string): string[] => {
    const f = engine[key] as Figure | undefined;
    if (!f) return [label, '-', '-', '-', '-', '-', '-', '-', '-'];
    const sync = f.syncSeconds == null ? '' : f.syncSeconds.toFixed(2);
    return [label, fs(f.seconds), fm(f.mbps), refName ?? '', versus(f), target, `${f.cpuUserSeconds.toFixed(2)}/${f.cpuSysSeconds.toFixed(2)}`, sync, pct(f.otherCpuPct)];
  };
  const ref = (name: string) => (f: Figure): string => (refs[name] ? fx(f.mbps / refs[name].mbps) : 'n/a');
  const fresh = engine.freshBackup as Figure;
  out.push(grid(['engine (in-process)', 'seconds', 'MB/s', 'versus', 'ratio', 'target', 'CPU usr/sys', 'sync s', 'other CPU'], [
    row('fresh backup (zstd:1, durable)', 'freshBackup', 'zstd -1 -T0', ref('zstd'), '>= 0.85x'),
    row(`re-backup, no hints (${image.changedBlocks} blocks changed)`, 'rebackupNoHints', 'openssl', ref('openssl'), '>= 1.5x'),
    row('re-backup with hints', 'rebackupHints', 'fresh backup', (f) => `${(fresh.seconds / f.seconds).toFixed(1)}x faster`, '>= 30x'),
    row('deep scrub of the fresh version', 'deepScrub', 'openssl', ref('openssl'), '>= 1.5x'),
    row('restore of the fresh version (verified)', 'restore', 'openssl', ref('openssl'), '>= 1.2x'),
    row('  same restore', 'restore', 'cp --sparse', ref('cp'), '(reference)'),
    row('restore of the hinted version (verified)', 'restoreChanged', 'openssl', ref('openssl'), ''),
    row('encrypted fresh backup (AES-256-GCM, best of 2)', 'encryptedFreshBackup', 'plain, best of 2', (f) => fx(f.mbps / (engine.plainFreshBackupBest as Figure).mbps), '>= 0.85x'),
    row('encrypted restore (verified, best of 2)', 'encryptedRestore', 'plain, best of 2', (f) => fx(f.mbps / (engine.plainRestoreBest as Figure).mbps), '>= 0.85x'),
  ]));
  const runs = (key: string): string => ((engine[key] as { runsSeconds?: number[] }).runsSeconds ?? []).map((x) => x.toFixed(2)).join(' and ');
  out.push(`encrypted vs plain, each run twice alternating (the disk's speed varies): plain backups ${runs('plainFreshBackupBest')} s, encrypted ${runs('encryptedFreshBackup')} s; plain restores ${runs('plainRestoreBest')} s, encrypted ${runs('encryptedRestore')} s`);
  const disk = report.disk as { objectBytes: number; dataBytes: number; replaySeconds: number; replayOtherCpuPct: number } | undefined;
  if (disk && refs.diskRead && refs.diskWrite) {
    const f = (key: string): Figure => engine[key] as Figure;
    const scrubRate = disk.objectBytes / f('deepScrub').seconds / 1e6;
    const restoreRate = (disk.objectBytes + disk.dataBytes) / f('restore').seconds / 1e6;
    out.push(`disk (objects are written and read with O_DIRECT, so these steps read the store from the disk): the deep scrub read ${formatBytes(disk.objectBytes)} of objects at ${fm(scrubRate)} MB/s (dd read ${fm(refs.diskRead.mbps)} MB/s); the restore read them and wrote ${formatBytes(disk.dataBytes)}, ${fm(restoreRate)} MB/s through the disk (dd write ${fm(refs.diskWrite.mbps)} MB/s)`);
    out.push(`  the restore's I/O alone (every object read, every block written, O_DIRECT, as many in flight, nothing verified) right after it: ${fs(disk.replaySeconds)} s (other CPU ${disk.replayOtherCpuPct}%); the verified restore took ${(f('restore').seconds / disk.replaySeconds).toFixed(2)}x that`);
  }
  const stats = (engine.freshBackup as { stats: { bytesStored: number; blocksWritten: number; blocksDedup: number; blocksSparse: number } }).stats;
  out.push(`fresh backup: ${stats.blocksWritten} objects written (${formatBytes(stats.bytesStored)} stored), ${stats.blocksDedup} deduplicated, ${stats.blocksSparse} sparse; final sync phase ${fresh.syncSeconds == null ? 'n/a' : `${fs(fresh.syncSeconds)} s`}`);
  const memory = report.memory as { peakRssBytes: number; peakRssBeforeEngineBytes: number };
  out.push(`peak RSS: ${(memory.peakRssBytes / 1e6).toFixed(0)} MB (this process, engine included; ${(memory.peakRssBeforeEngineBytes / 1e6).toFixed(0)} MB before the engine ran)`);
  if (sparse) {
    out.push(`sparse test: ${formatBytes(sparse.bytes)} image with ${sparse.dataBlocks} data blocks, separate process: backup ${fs(sparse.backupSeconds)} s (${fm(sparse.backupMbps)} MB/s), restore ${fs(sparse.restoreSeconds)} s (${fm(sparse.restoreMbps)} MB/s), peak RSS ${(sparse.peakRssBytes / 1e6).toFixed(0)} MB; the test took ${sparse.totalSeconds} s (--no-sparse-test skips it)`);
  }
  const repository = report.repository as { bytesAfterFresh: number; perImageByteAfterFresh: number; bytesAfterThreeVersions: number; perImageByteAfterThreeVersions: number };
  out.push(`repository: ${formatBytes(repository.bytesAfterFresh)} after the fresh backup = ${repository.perImageByteAfterFresh.toFixed(3)} bytes per image byte; ${formatBytes(repository.bytesAfterThreeVersions)} with three versions (${repository.perImageByteAfterThreeVersions.toFixed(3)})`);
  out.push('');

  const peerInfo = report.peers as { skipped: string | null };
  if (peers.length) {
    const ours = engine as Record<string, Figure>;
    const rows: string[][] = [];
    for (const p of peers) {
      rows.push([`${p.name} fresh backup`, fs(p.freshSeconds), fm(rate(size, p.freshSeconds)), fx(p.freshSeconds / ours.freshBackup.seconds), p.name === 'restic' ? '>= 3x' : '>= 2.5x', pct(p.otherCpuPct.fresh)]);
      rows.push([`${p.name} second backup (after the change)`, fs(p.rebackupSeconds), fm(rate(size, p.rebackupSeconds)), fx(p.rebackupSeconds / ours.rebackupNoHints.seconds), p.name === 'restic' ? '>= 3x' : '>= 2x', pct(p.otherCpuPct.rebackup)]);
      rows.push([`${p.name} restore (sha256 checked)`, fs(p.restoreSeconds), fm(rate(size, p.restoreSeconds)), fx(p.restoreSeconds / ours.restoreChanged.seconds), '>= 2x', pct(p.otherCpuPct.restore)]);
    }
    out.push(grid(['peer (wall time of the command)', 'seconds', 'MB/s', 'ours is', 'target', 'other CPU'], rows));
    for (const p of peers) out.push(`  ${p.name}: ${p.version}; ${p.settings}; repository ${formatBytes(p.repositoryBytes ?? 0)}`);
    out.push('  compared with: our fresh backup, our re-backup without hints, our restore of the changed version');
  }
  if (peerInfo.skipped) out.push(`peers: ${peerInfo.skipped}`);
  out.push('');

  out.push(grid(['target', 'measured', 'target', 'result'], checks.map((c) => {
    let value = c.unit === 'x' ? fx(c.value) : `${c.value.toFixed(0)} MB`;
    let target = c.unit === 'x' ? `${c.atMost ? '<=' : '>='} ${c.target}x` : `${c.atMost ? '<=' : '>='} ${c.target} MB`;
    if (c.or) {
      value += ` / ${fx(c.or.value)} ${c.or.label}`;
      target += ` or ${c.or.target}x`;
    }
    return [c.name, value, target, checkPasses(c) ? 'ok' : 'MISSED'];
  })));
  out.push('CPU usr/sys: CPU seconds of this process (main thread and workers) during the measurement; sync s: the final sync phase (store sync, or the restore target fsync)');
  out.push('other CPU: share of both cores that other processes (and hypervisor steal) used during the measurement; above ~10% the figure is disturbed');
  out.push('');
  return `${out.join('\n')}\n`;
}
