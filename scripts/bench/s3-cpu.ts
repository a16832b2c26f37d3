// CPU accounting of the S3 figures: the endpoint (RGW and its OSD) runs on the same cores as
// the engine, so each S3 figure reports this process's CPU seconds, the Ceph daemons' CPU
// seconds, and what everything else used meanwhile ("other CPU", as a share of all cores:
// above about 10 % the figure is noise). Linux /proc only; elsewhere the CPU figures are 0.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const TICK = 100;

export interface S3Cpu {
  seconds: number;
  /** this process, all threads */
  ownCpuSeconds: number;
  /** radosgw, ceph-osd, ceph-mon, ceph-mgr */
  cephCpuSeconds: number;
  /** everything else, as a share of all cores */
  otherCpuPct: number;
  /** cores left idle, CPU seconds */
  idleCpuSeconds: number;
}

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

const statCpu = (stat: string): number => {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK;
};

/** CPU seconds so far: this process, the Ceph daemons, and the whole machine (busy, all cores). */
export function cpuNow(): { t: number; own: number; ceph: number; all: number } {
  let ceph = 0;
  let all = 0;
  for (const pid of cephProcesses()) {
    try {
      ceph += statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // gone
    }
  }
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    all = (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / TICK;
  } catch {
    // not Linux
  }
  const usage = process.cpuUsage();
  return { t: performance.now() / 1000, own: (usage.user + usage.system) / 1e6, ceph, all };
}

/** CPU seconds of every thread of this process, by thread (`main`, `libuv pool`, `node:TID` ...). */
export function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const key = name.startsWith('libuv-worker') ? 'libuv pool' : tid === String(process.pid) ? 'main' : `${name}:${tid}`;
      out.set(key, (out.get(key) ?? 0) + statCpu(stat));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Runs fn and says what it cost in CPU, here, in Ceph and elsewhere. */
export async function withS3Cpu<T>(fn: () => Promise<T>): Promise<{ value: T; cpu: S3Cpu }> {
  const a = cpuNow();
  const value = await fn();
  const b = cpuNow();
  const seconds = b.t - a.t;
  const capacity = seconds * availableParallelism();
  const own = b.own - a.own;
  const ceph = b.ceph - a.ceph;
  const busy = b.all - a.all;
  const other = Math.max(0, busy - own - ceph);
  return {
    value,
    cpu: {
      seconds,
      ownCpuSeconds: Math.round(own * 100) / 100,
      cephCpuSeconds: Math.round(ceph * 100) / 100,
      otherCpuPct: capacity > 0 ? Math.round((100 * other) / capacity) : 0,
      idleCpuSeconds: Math.round(Math.max(0, capacity - busy) * 100) / 100,
    },
  };
}
