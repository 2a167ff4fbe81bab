import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux we run on). */
const HZ = 100;

export interface ProcSample {
  cpuSeconds: number;
  /** Peak resident set (VmHWM), bytes. */
  peakRss: number;
  rss: number;
}

/** CPU seconds (user + system) and RSS of a process from /proc; undefined once it is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces: count fields after its closing parenthesis.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { cpuSeconds: (utime + stime) / HZ, peakRss: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return undefined;
  }
}

export interface MeasuredProc {
  readonly name: string;
  readonly pid: number;
}

export interface ProcUsage {
  name: string;
  pid: number;
  cpuSeconds: number;
  peakRssMiB: number;
  /** vCPU used per 1000 requests/s: CPU seconds / (requests / 1000). */
  vcpuPer1kRps: number;
}

/** Starts CPU accounting for some processes; `finish` gives the CPU used since, and the peak RSS. */
export function startUsage(procs: readonly MeasuredProc[]): { finish(requests: number): ProcUsage[] } {
  const before = procs.map((p) => sampleProc(p.pid));
  return {
    finish(requests: number): ProcUsage[] {
      return procs.map((p, i) => {
        const after = sampleProc(p.pid);
        const cpu = after && before[i] ? after.cpuSeconds - before[i].cpuSeconds : 0;
        return {
          name: p.name,
          pid: p.pid,
          cpuSeconds: round(cpu, 3),
          peakRssMiB: round((after?.peakRss ?? 0) / 1048576, 1),
          vcpuPer1kRps: requests > 0 ? round(cpu / (requests / 1000), 4) : 0,
        };
      });
    },
  };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
