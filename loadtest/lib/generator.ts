/**
 * The open-loop, constant-arrival-rate generator. It runs in a worker thread so that the main
 * thread's bookkeeping never delays a send. Request i is scheduled at start + i / rate; its latency
 * is measured from that scheduled time, not from when it was actually written, so a stalled server
 * cannot hide its stall by slowing the generator down (coordinated omission is corrected).
 */
import { Agent, request } from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';

export interface GeneratorJob {
  host: string;
  port: number;
  path: string;
  hostHeader: string;
  rate: number;
  durationMs: number;
  connections: number;
  /** A new connection per request (`Connection: close`). */
  churn: boolean;
  /** Every Nth request on a new connection (`Connection: close`), the others kept alive. */
  newConnectionEvery?: number | undefined;
}

/** Percentiles reported in tables and drawn in the chart. */
export const PERCENTILES = [50, 75, 90, 95, 99, 99.9, 99.99, 100] as const;

export interface LatencySummary {
  /** Milliseconds at each of PERCENTILES, in that order. */
  percentiles: { p: number; ms: number }[];
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface GeneratorResult {
  mode: 'open';
  scheduled: number;
  completed: number;
  errors: number;
  errorSamples: string[];
  non2xx: number;
  bytes: number;
  elapsedSec: number;
  rps: number;
  latency: LatencySummary;
  /** p99 of (actual send − scheduled send), ms: how far the generator itself fell behind. */
  sendLagP99Ms: number;
  /** Event-loop utilisation of the generator thread, 0..1. */
  generatorElu: number;
  generatorLimited: string | undefined;
}

export function summarize(getMs: (p: number) => number): LatencySummary {
  const percentiles = PERCENTILES.map((p) => ({ p, ms: getMs(p) }));
  return { percentiles, p50: getMs(50), p90: getMs(90), p99: getMs(99), p999: getMs(99.9), max: getMs(100) };
}

const MAX_IN_FLIGHT = 20_000;
const DRAIN_MS = 5000;

async function runJob(job: GeneratorJob): Promise<GeneratorResult> {
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const lag = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 2 });
  const agent = new Agent({ keepAlive: !job.churn, maxSockets: job.connections, maxFreeSockets: job.connections });
  const headers: Record<string, string> = { host: job.hostHeader };
  if (job.churn) headers.connection = 'close';
  const closeAgent = new Agent({ keepAlive: false, maxSockets: job.connections });
  const closeHeaders = { host: job.hostHeader, connection: 'close' };
  const every = job.newConnectionEvery ?? 0;
  const total = Math.max(1, Math.round((job.rate * job.durationMs) / 1000));
  const interval = 1000 / job.rate;
  let sent = 0;
  let completed = 0;
  let errors = 0;
  let non2xx = 0;
  let bytes = 0;
  let inFlight = 0;
  const errorSamples: string[] = [];
  const fail = (msg: string): void => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(msg);
  };
  // Warm-up, not recorded: open the connections (and JIT the client) before the schedule starts.
  const warm = (): Promise<void> =>
    new Promise((resolve) => {
      const req = request({ host: job.host, port: job.port, path: job.path, headers, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end();
    });
  for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: job.churn ? 4 : job.connections }, warm));
  const elu0 = performance.eventLoopUtilization();
  const start = performance.now();
  let done!: () => void;
  const allDone = new Promise<void>((r) => (done = r));
  const finishOne = (): void => {
    inFlight--;
    if (sent >= total && inFlight === 0) done();
  };
  const send = (scheduled: number, i: number): void => {
    inFlight++;
    const fresh = every > 0 && i % every === 0;
    const req = request({ host: job.host, port: job.port, path: job.path, headers: fresh ? closeHeaders : headers, agent: fresh ? closeAgent : agent }, (res) => {
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) non2xx++;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => {
        const us = Math.max(1, Math.round((performance.now() - scheduled) * 1000));
        hist.recordValue(us);
        completed++;
        finishOne();
      });
      res.on('error', (e) => {
        fail(e.message);
        finishOne();
      });
    });
    req.on('error', (e) => {
      fail(e.message);
      finishOne();
    });
    req.end();
  };
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      while (sent < due) {
        const scheduled = start + sent * interval;
        sent++;
        lag.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
        if (inFlight >= MAX_IN_FLIGHT) {
          fail(`over ${MAX_IN_FLIGHT} requests in flight: dropped`);
          continue;
        }
        send(scheduled, sent);
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, Math.min(1, start + sent * interval - performance.now())));
    };
    tick();
  });
  if (inFlight === 0) done();
  const sendEnd = performance.now();
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([allDone, new Promise((r) => (drainTimer = setTimeout(r, DRAIN_MS)))]);
  clearTimeout(drainTimer);
  if (inFlight > 0) {
    for (let i = 0; i < inFlight; i++) fail(`no response within ${DRAIN_MS} ms after the run`);
  }
  const elapsedSec = (performance.now() - start) / 1000;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  agent.destroy();
  closeAgent.destroy();
  const sendSec = (sendEnd - start) / 1000;
  const sendLagP99Ms = lag.getValueAtPercentile(99) / 1000;
  let generatorLimited: string | undefined;
  if (sendLagP99Ms > 10 || sendSec > (job.durationMs / 1000) * 1.05 + 0.05) {
    generatorLimited = `the generator fell behind its schedule (send lag p99 ${sendLagP99Ms.toFixed(1)} ms)`;
  } else if (elu > 0.9) {
    generatorLimited = `the generator thread was ${(elu * 100).toFixed(0)}% busy`;
  }
  return {
    mode: 'open',
    scheduled: total,
    completed,
    errors,
    errorSamples,
    non2xx,
    bytes,
    elapsedSec,
    rps: completed / Math.min(elapsedSec, Math.max(sendSec, job.durationMs / 1000)),
    latency: summarize((p) => hist.getValueAtPercentile(p) / 1000),
    sendLagP99Ms,
    generatorElu: elu,
    generatorLimited,
  };
}

/** Runs one open-loop job in a worker thread. */
export function runOpenLoop(job: GeneratorJob): Promise<GeneratorResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    worker.once('message', (r: GeneratorResult) => {
      resolve(r);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`generator worker exited with ${code}`));
    });
  });
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  void runJob(workerData as GeneratorJob).then((r) => port.postMessage(r));
}
