/** Closed-loop maximum throughput: drives `wrk` (Debian package `wrk`) and parses its `--latency` output. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { sampleProc } from './procstat.js';
import { summarize, type LatencySummary } from './generator.js';

export interface WrkJob {
  url: string;
  hostHeader: string;
  durationMs: number;
  connections: number;
  churn: boolean;
}

export interface WrkResult {
  mode: 'closed';
  completed: number;
  errors: number;
  errorSamples: string[];
  non2xx: number;
  bytes: number;
  elapsedSec: number;
  rps: number;
  latency: LatencySummary;
  /** CPU of wrk's one thread as a fraction of one core. */
  generatorCpu: number;
  generatorLimited: string | undefined;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const BYTES: Record<string, number> = { B: 1, KB: 1024, MB: 1048576, GB: 1073741824, TB: 1099511627776 };

function ms(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  return m ? Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1) : NaN;
}

/** Parses wrk's output (`--latency`). Exported for the tests. */
export function parseWrk(out: string): Omit<WrkResult, 'generatorCpu' | 'generatorLimited' | 'mode'> {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)(B|KB|MB|GB|TB) read/.exec(out);
  if (!done) throw new Error(`could not parse wrk output:\n${out}`);
  const completed = Number(done[1]);
  const elapsedSec = (Number(done[2]) * (UNIT_MS[done[3] ?? 's'] ?? 1000)) / 1000;
  const bytes = Number(done[4]) * (BYTES[done[5] ?? 'B'] ?? 1);
  const dist = new Map<number, number>();
  for (const m of out.matchAll(/^\s+(\d+)%\s+([\d.]+(?:us|ms|s|m))\s*$/gm)) dist.set(Number(m[1]), ms(m[2] ?? ''));
  const maxMs = ms(/Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? '');
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErrors = sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  // wrk reports 50/75/90/99 and the max; other percentiles are NaN (not measured).
  const get = (p: number): number => (p >= 100 ? maxMs : (dist.get(p) ?? NaN));
  return {
    completed,
    errors: sockErrors,
    errorSamples: sock ? [sock[0]] : [],
    non2xx,
    bytes,
    elapsedSec,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    latency: summarize(get),
  };
}

export async function runWrk(job: WrkJob): Promise<WrkResult> {
  const secs = Math.max(1, Math.round(job.durationMs / 1000));
  const args = ['-t1', `-c${job.connections}`, `-d${secs}s`, '--latency', '--timeout', '5s', '-H', `Host: ${job.hostHeader}`];
  if (job.churn) args.push('-H', 'Connection: close');
  args.push(job.url);
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const spawned = once(child, 'spawn').then(() => sampleProc(child.pid ?? 0));
  const timer = setTimeout(() => child.kill('SIGKILL'), secs * 1000 + 15_000);
  // Sample wrk's CPU just before it exits: poll, keeping the last sample.
  let last = await spawned;
  const poll = setInterval(() => (last = sampleProc(child.pid ?? 0) ?? last), 100);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(poll);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${out.trim().split('\n').slice(-3).join(' / ')}`);
  const parsed = parseWrk(out);
  const generatorCpu = (last?.cpuSeconds ?? 0) / parsed.elapsedSec;
  return {
    mode: 'closed',
    ...parsed,
    generatorCpu,
    generatorLimited: generatorCpu > 0.9 ? `wrk's thread was ${(generatorCpu * 100).toFixed(0)}% busy: the generator, not the proxy, may have set this figure` : undefined,
  };
}
