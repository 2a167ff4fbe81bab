/**
 * npm run bench:control-plane [-- --proxies N] [--workers W] [--identities K] [--client h2|grpc-js]
 *                               [--no-pin] [--cpu-prof DIR] [--cp-log-level LEVEL]
 *
 * --proxies 2000, --workers 2 processes, --identities 50 (one bootstrap token each, shared round-robin);
 * --client h2 (bare gRPC on node:http2, light) or grpc-js (a grpc-js client per stream, as the proxy);
 * the control plane is pinned to CPU 0 and the workers to the other CPUs with taskset unless --no-pin;
 * --cpu-prof DIR runs the control plane under `node --cpu-prof`; --cp-log-level defaults to warn.
 *
 * Mass restart of a fleet against a real control plane process: N simulated proxies (bare stream
 * clients, spread over W worker processes) each bootstrap with a token, send their own P-256 CSR on
 * the secret stream and get a certificate, then open a policy stream over mTLS with it and ACK every
 * version. Then one policy change (a namespace-wide PeerAuthentication STRICT) is applied with
 * `POST /api/v1/apply?wait=60s` and pushed to all of them.
 *
 * Reports time-to-all-certified (all secret streams opened in the same tick → last certificate
 * received), push latency per proxy (apply request sent → that proxy received and ACKed the new
 * version) with its p99, and the control plane's RSS per connected proxy ((VmRSS with N proxies on
 * both streams − VmRSS idle) / N, from /proc/<pid>/status). Thresholds from issue 6 are printed as
 * PASS/FAIL; the exit status is 0 either way (1 only if the bench itself could not run).
 * Progress goes to stderr; the last stdout line is the result.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN } from './mesh/process.js';
import type { BenchIdentity, ParentMessage, ProxyRecord, WorkerMessage } from './bench-cp/protocol.js';

const TRUST_DOMAIN = 'cluster.local';
const NAMESPACE = 'bench';
const TARGET_CERTIFIED_S = 5;
const TARGET_PUSH_P99_MS = 1000;
const TARGET_RSS_PER_PROXY_KB = 50;
const WORKER = fileURLToPath(new URL('./bench-cp/worker.js', import.meta.url));

const wallNow = (): number => performance.timeOrigin + performance.now();
const progress = (msg: string): void => {
  process.stderr.write(`[bench:control-plane] ${msg}\n`);
};

interface Args {
  proxies: number;
  workers: number;
  identities: number;
  cpuProfDir: string | undefined;
  cpLogLevel: string;
  pin: boolean;
  client: 'h2' | 'grpc-js';
}

function parseArgs(argv: readonly string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, def: number, min: number): number => {
    const raw = get(name);
    if (raw === undefined) return def;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min) throw new Error(`${name}: want an integer ≥ ${min}, got ${raw}`);
    return v;
  };
  const proxies = int('--proxies', 2000, 1);
  return {
    proxies,
    workers: Math.min(int('--workers', 2, 1), proxies),
    identities: Math.min(int('--identities', 50, 1), proxies),
    cpuProfDir: get('--cpu-prof'),
    cpLogLevel: get('--cp-log-level') ?? 'warn',
    client: clientArg(get('--client')),
    pin: !argv.includes('--no-pin') && availableParallelism() >= 2 && existsSync('/usr/bin/taskset'),
  };
}

function clientArg(v: string | undefined): 'h2' | 'grpc-js' {
  if (v === undefined || v === 'h2' || v === 'grpc-js') return v ?? 'h2';
  throw new Error(`--client: want h2 or grpc-js, got ${v}`);
}

/** VmRSS / VmHWM of a process in bytes, from /proc/<pid>/status. */
async function procMem(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return m?.[1] ? Number(m[1]) * 1024 : NaN;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat. */
async function procCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Busy CPU seconds of the whole machine (all CPUs), from /proc/stat. */
async function machineBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
}

/** CPU seconds of the control plane and the workers together. */
async function benchCpuSeconds(pids: readonly number[]): Promise<number> {
  let t = 0;
  for (const p of pids) t += await procCpuSeconds(p).catch(() => 0);
  return t;
}

/** System-wide TCP accept-queue overflows (TcpExt ListenOverflows in /proc/net/netstat); the bench runs on loopback only. */
async function listenOverflows(): Promise<number> {
  const lines = (await readFile('/proc/net/netstat', 'utf8')).split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const names = lines[i]?.split(' ') ?? [];
    const values = lines[i + 1]?.split(' ') ?? [];
    if (names[0] !== 'TcpExt:' || values[0] !== 'TcpExt:') continue;
    const k = names.indexOf('ListenOverflows');
    return k > 0 ? Number(values[k]) : NaN;
  }
  return NaN;
}

/** "0-1 s: n, 1-2 s: n, …" of times in ms. */
function histogramBySecond(ms: readonly number[]): string {
  const counts: number[] = [];
  for (const t of ms) {
    const s = Math.floor(t / 1000);
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return Array.from(counts, (n, s) => `${s}-${s + 1} s: ${n ?? 0}`).join(', ');
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

interface Worker {
  readonly child: ChildProcess;
  readonly messages: WorkerMessage[];
  next<T extends WorkerMessage['type']>(type: T, timeoutMs: number): Promise<Extract<WorkerMessage, { type: T }>>;
  send(m: ParentMessage): void;
}

/** CPU 0 for the control plane, the others for the load generator (when pinned). */
const CP_CPUS = '0';
const workerCpus = (): string => (availableParallelism() > 2 ? `1-${availableParallelism() - 1}` : '1');

function startWorker(i: number, pin: boolean, onFailed: (m: Extract<WorkerMessage, { type: 'failed' }>) => void): Worker {
  const child = pin
    ? spawn('/usr/bin/taskset', ['-c', workerCpus(), process.execPath, WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages: WorkerMessage[] = [];
  child.on('message', (raw: unknown) => {
    const m = raw as WorkerMessage;
    messages.push(m);
    if (m.type === 'failed') onFailed(m);
    if (m.type === 'progress') progress(`worker ${i}: ${m.certified} certified, ${m.synced} on the policy stream`);
  });
  return {
    child,
    messages,
    send: (m) => {
      child.send(m);
    },
    next(type, timeoutMs) {
      return new Promise((resolve, reject) => {
        const seen = messages.find((m) => m.type === type);
        if (seen) {
          messages.splice(messages.indexOf(seen), 1);
          resolve(seen as never);
          return;
        }
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`worker ${i}: no "${type}" within ${timeoutMs} ms`));
        }, timeoutMs);
        const onMessage = (raw: unknown): void => {
          const m = raw as WorkerMessage;
          if (m.type !== type) return;
          messages.splice(messages.indexOf(m), 1);
          cleanup();
          resolve(m as never);
        };
        const onExit = (code: number | null): void => {
          cleanup();
          reject(new Error(`worker ${i} exited (${code}) while waiting for "${type}"`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
      });
    },
  };
}

/** Parses the push-duration histogram out of the Prometheus text. */
function pushHistogram(text: string): { count: number; sum: number; buckets: { le: string; count: number }[] } {
  const name = 'mesh_cp_policy_push_duration_seconds';
  const buckets: { le: string; count: number }[] = [];
  let count = 0;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const b = /_bucket\{le="([^"]+)"\} (\S+)/.exec(line);
    if (b?.[1] && b[2]) buckets.push({ le: b[1], count: Number(b[2]) });
    else if (line.startsWith(`${name}_sum`)) sum = Number(line.split(' ')[1]);
    else if (line.startsWith(`${name}_count`)) count = Number(line.split(' ')[1]);
  }
  return { count, sum, buckets };
}

/** JS heap used / total and external memory of the control plane, from its process metrics. */
function heapFigures(text: string): string {
  const mib = (name: string): string => (gauge(text, `mesh_cp_process_${name}`) / 1048576).toFixed(1);
  return `heap used ${mib('nodejs_heap_size_used_bytes')} MiB, heap total ${mib('nodejs_heap_size_total_bytes')} MiB, external ${mib('nodejs_external_memory_bytes')} MiB`;
}

function gauge(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m?.[1] ? Number(m[1]) : NaN;
}

interface CpProcess {
  readonly child: ChildProcess;
  readonly listening: Promise<{ grpcPort: number; httpPort: number }>;
  stop(): Promise<void>;
}

/** The control plane binary as a real process (node flags such as --cpu-prof first); stderr goes to `logFile`. */
function startControlPlaneProcess(nodeFlags: readonly string[], args: readonly string[], logFile: string, pin: boolean): CpProcess {
  const argv = [...nodeFlags, BIN.controlPlane, ...args];
  const child = pin
    ? spawn('/usr/bin/taskset', ['-c', CP_CPUS, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile);
  child.stderr?.pipe(log);
  let tail = '';
  child.stderr?.on('data', (b: Buffer) => (tail = (tail + b.toString()).slice(-2000)));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const listening = new Promise<{ grpcPort: number; httpPort: number }>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout ?? process.stdin });
    rl.on('line', (line) => {
      try {
        const ev = JSON.parse(line) as { event?: string; grpcPort?: number; httpPort?: number };
        if (ev.event === 'listening' && typeof ev.grpcPort === 'number' && typeof ev.httpPort === 'number') resolve({ grpcPort: ev.grpcPort, httpPort: ev.httpPort });
      } catch {
        // not a JSON line
      }
    });
    void exited.then(([code, sig]) => reject(new Error(`control plane exited (${code ?? sig}) before listening:\n${tail}`)));
  });
  listening.catch(() => undefined);
  return {
    child,
    listening,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(kill);
      }
      log.end();
    },
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const N = args.proxies;
  const dataDir = await mkdtemp(join(tmpdir(), 'mesh-bench-cp-'));
  const nodeFlags: string[] = [];
  if (args.cpuProfDir) {
    await mkdir(args.cpuProfDir, { recursive: true });
    // --cpu-prof is not allowed in NODE_OPTIONS, so the control plane is spawned with it directly.
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${args.cpuProfDir}`);
  }
  const cp = startControlPlaneProcess(
    nodeFlags,
    ['--data-dir', dataDir, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--log-level', args.cpLogLevel],
    join(dataDir, 'control-plane.log'),
    args.pin,
  );
  const workers: Worker[] = [];
  const failures: Extract<WorkerMessage, { type: 'failed' }>[] = [];
  try {
    const listening = await cp.listening;
    const pid = cp.child.pid;
    if (pid === undefined) throw new Error('control plane has no pid');
    const target = `127.0.0.1:${String(listening.grpcPort)}`;
    const httpUrl = `http://127.0.0.1:${String(listening.httpPort)}`;
    const adminToken = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const rootsPem = await readFile(join(dataDir, 'ca', 'root-cert.pem'), 'utf8');
    const api = async (method: string, path: string, body?: unknown): Promise<Response> =>
      fetch(httpUrl + path, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    progress(`control plane pid ${pid} on ${target} (data dir ${dataDir})`);

    // One token per identity; many simulated proxies share an identity (tokens are multi-use until expiry).
    const identities: BenchIdentity[] = [];
    for (let i = 0; i < args.identities; i++) {
      const serviceAccount = `sa-${i}`;
      const res = await api('POST', '/api/v1/tokens', { namespace: NAMESPACE, serviceAccount, ttl: '1h' });
      if (res.status !== 201) throw new Error(`token create: HTTP ${res.status} ${await res.text()}`);
      const { token } = (await res.json()) as { token: string };
      identities.push({ namespace: NAMESPACE, serviceAccount, token });
    }

    // Keys and CSRs are made in the workers before the clock starts.
    const per = Math.ceil(N / args.workers);
    for (let w = 0; w < args.workers; w++) {
      const firstIndex = w * per;
      const count = Math.min(per, N - firstIndex);
      if (count <= 0) break;
      const worker = startWorker(w, args.pin, (m) => failures.push(m));
      workers.push(worker);
      worker.send({ type: 'init', init: { target, rootsPem, trustDomain: TRUST_DOMAIN, identities, firstIndex, count, client: args.client } });
    }
    const ready = await Promise.all(workers.map((w) => w.next('ready', 300_000)));
    progress(`${N} keys and CSRs ready in ${workers.length} worker(s) (${ready.map((r) => `${(r.keygenMs / 1000).toFixed(1)} s`).join(', ')})`);

    await sleep(1000);
    const idle = await procMem(pid);
    const heapIdle = heapFigures(await (await fetch(`${httpUrl}/metrics`)).text());
    const cpuIdle = await procCpuSeconds(pid);
    progress(`control plane idle: VmRSS ${(idle.rss / 1048576).toFixed(1)} MiB`);

    // Mass restart: every simulated proxy opens its secret stream at once.
    const overflowsBefore = await listenOverflows();
    const benchPids = [pid, ...workers.map((w) => w.child.pid ?? 0).filter((p) => p > 0)];
    const loadBefore = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0] ?? '?';
    const machineBefore = await machineBusySeconds();
    const benchBefore = await benchCpuSeconds(benchPids);
    const tGo = wallNow();
    for (const w of workers) w.send({ type: 'go' });
    const certified = await Promise.all(workers.map((w) => w.next('certified', 120_000)));
    const tCertified = Math.max(...certified.map((c) => c.lastAt));
    const nCertified = certified.reduce((a, c) => a + c.count, 0);
    const cpuCertified = (await procCpuSeconds(pid)) - cpuIdle;
    // CPU that neither the control plane nor the workers used while the fleet was certified: other load on the machine.
    const otherCpu = (await machineBusySeconds()) - machineBefore - ((await benchCpuSeconds(benchPids)) - benchBefore);
    const otherShare = otherCpu / ((availableParallelism() * (wallNow() - tGo)) / 1000);
    const eluCertified = certified.map((c) => c.eventLoopUtilization);
    progress(`${nCertified}/${N} certified in ${((tCertified - tGo) / 1000).toFixed(2)} s`);
    const synced = await Promise.all(workers.map((w) => w.next('synced', 120_000)));
    const tSynced = Math.max(...synced.map((c) => c.lastAt));
    const nSynced = synced.reduce((a, c) => a + c.count, 0);
    const cpuRestart = (await procCpuSeconds(pid)) - cpuIdle;
    const overflows = (await listenOverflows()) - overflowsBefore;
    progress(`${nSynced}/${N} on the policy stream with their first version in ${((tSynced - tGo) / 1000).toFixed(2)} s`);

    await sleep(2000);
    const connected = await procMem(pid);
    const metricsBefore = await (await fetch(`${httpUrl}/metrics`)).text();
    const secretStreams = gauge(metricsBefore, 'mesh_cp_connected_proxies');
    const policyStreams = gauge(metricsBefore, 'mesh_cp_policy_streams');
    const heapConnected = heapFigures(metricsBefore);
    progress(`control plane with ${secretStreams} secret and ${policyStreams} policy streams: VmRSS ${(connected.rss / 1048576).toFixed(1)} MiB`);

    // One policy change for all of them.
    const doc = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: NAMESPACE }, spec: { mtls: { mode: 'STRICT' } } };
    const cpuBeforePush = await procCpuSeconds(pid);
    const tApply = wallNow();
    const applyRes = await api('POST', '/api/v1/apply?wait=60s', { documents: [doc] });
    const tApplied = wallNow();
    const applyBody = (await applyRes.json()) as Record<string, unknown>;
    if (applyRes.status !== 200) throw new Error(`apply: HTTP ${applyRes.status} ${JSON.stringify(applyBody)}`);
    const cpuPush = (await procCpuSeconds(pid)) - cpuBeforePush;
    const revision = Number(applyBody.revision);
    progress(`apply returned in ${(tApplied - tApply).toFixed(0)} ms (revision ${revision}, ${JSON.stringify({ ...applyBody, results: undefined })})`);

    await sleep(500);
    for (const w of workers) w.send({ type: 'report' });
    const reports = await Promise.all(workers.map((w) => w.next('pushes', 60_000)));
    const records: ProxyRecord[] = reports.flatMap((r) => r.items);
    const latencies: number[] = [];
    let missing = 0;
    for (const r of records) {
      const push = r.pushes.find((p) => p.revision >= revision);
      if (push) latencies.push(push.at - tApply);
      else missing++;
    }
    latencies.sort((a, b) => a - b);
    const certTimes = records.filter((r) => r.certifiedAt > 0).map((r) => r.certifiedAt - tGo).sort((a, b) => a - b);

    const metricsAfter = await (await fetch(`${httpUrl}/metrics`)).text();
    const hist = pushHistogram(metricsAfter);
    const after = await procMem(pid);

    // Incomplete runs FAIL whatever the figures; the figures cover the proxies that made it.
    const complete = nCertified === N && missing === 0 && failures.length === 0;
    const certifiedS = (tCertified - tGo) / 1000;
    const pushP99 = percentile(latencies, 0.99);
    const rssPerProxyKb = (connected.rss - idle.rss) / Math.max(1, Math.min(nSynced, secretStreams, policyStreams)) / 1024;
    const incomplete = complete ? '' : ` (INCOMPLETE: ${nCertified}/${N} certified, ${latencies.length}/${N} got the push)`;

    const ms = (v: number): string => v.toFixed(1);
    const lines = [
      `proxies                          ${N} in ${workers.length} worker process(es) (client ${args.client}), ${args.identities} identities (one bootstrap token each), control plane log level ${args.cpLogLevel}`,
      `failures                         ${failures.length}${failures.length ? ` (first: ${JSON.stringify(failures[0])})` : ''}`,
      `certified                        ${nCertified}/${N}; p50 ${ms(percentile(certTimes, 0.5))} ms, p99 ${ms(percentile(certTimes, 0.99))} ms, all ${ms(tCertified - tGo)} ms after the mass restart`,
      `certified per second             ${histogramBySecond(certTimes)}`,
      `on the policy stream             ${nSynced}/${N}; all with their first version ${ms(tSynced - tGo)} ms after the mass restart`,
      `control plane CPU, mass restart  ${cpuCertified.toFixed(2)} s until all certified (${((100 * cpuCertified * 1000) / (tCertified - tGo)).toFixed(0)}% of one core), ${cpuRestart.toFixed(2)} s until all on the policy stream`,
      `workers' event-loop utilization  ${eluCertified.map((u) => `${(100 * u).toFixed(0)}%`).join(', ')} until all certified (near 100%: the generator, not the control plane, set the pace)`,
      `other load on the machine        ${otherCpu.toFixed(1)} CPU s used by other processes until all certified (${(100 * otherShare).toFixed(0)}% of the machine; load average ${loadBefore} before the run)${otherShare > 0.1 ? ' — WARNING: the machine was busy; times are not the control plane\'s alone' : ''}`,
      `CPU pinning                      ${args.pin ? `control plane on CPU ${CP_CPUS}, workers on CPU ${workerCpus()} (taskset)` : 'none'}`,
      `TCP accept-queue overflows       ${overflows} during the mass restart (TcpExt ListenOverflows: SYNs dropped because the listener's backlog was full; each costs the client a 1 s, 3 s, 7 s… retransmit)`,
      `policy push (apply → each ACK)   ${latencies.length}/${N} received; p50 ${ms(percentile(latencies, 0.5))} ms, p90 ${ms(percentile(latencies, 0.9))} ms, p99 ${ms(percentile(latencies, 0.99))} ms, max ${ms(latencies.at(-1) ?? NaN)} ms`,
      `apply?wait=60s answered after    ${ms(tApplied - tApply)} ms (converged: ${JSON.stringify(applyBody.converged ?? applyBody.synced ?? null)})`,
      `control plane CPU, push          ${cpuPush.toFixed(2)} s`,
      `CP histogram ${'mesh_cp_policy_push_duration_seconds'}: count ${hist.count}, sum ${hist.sum.toFixed(3)} s; buckets ${hist.buckets.map((b) => `le ${b.le}: ${b.count}`).join(', ')}`,
      `control plane VmRSS              idle ${(idle.rss / 1048576).toFixed(1)} MiB, ${N} connected ${(connected.rss / 1048576).toFixed(1)} MiB, after push ${(after.rss / 1048576).toFixed(1)} MiB, peak (VmHWM) ${(after.hwm / 1048576).toFixed(1)} MiB`,
      `control plane memory (prom-client) idle ${heapIdle}; connected ${heapConnected}`,
      `workers (load generator)         VmRSS ${reports.map((r) => `${(r.rssBytes / 1048576).toFixed(0)} MiB`).join(', ')}; CPU ${reports.map((r) => `${r.cpuSeconds.toFixed(2)} s`).join(', ')}`,
      `streams seen by the CP           ${secretStreams} secret, ${policyStreams} policy`,
      '',
      `${complete && certifiedS < TARGET_CERTIFIED_S ? 'PASS' : 'FAIL'}  all certified in ${certifiedS.toFixed(2)} s (target < ${TARGET_CERTIFIED_S} s)`,
      `${complete && pushP99 < TARGET_PUSH_P99_MS ? 'PASS' : 'FAIL'}  push p99 ${pushP99.toFixed(0)} ms (target < ${TARGET_PUSH_P99_MS} ms)`,
      `${rssPerProxyKb < TARGET_RSS_PER_PROXY_KB ? 'PASS' : 'FAIL'}  control plane RSS per connected proxy ${rssPerProxyKb.toFixed(1)} KB (target < ${TARGET_RSS_PER_PROXY_KB} KB; KB = 1024 bytes; per proxy with both streams open)`,
      '',
      `bench:control-plane: proxies ${N}, all certified in ${certifiedS.toFixed(2)} s, push p99 ${pushP99.toFixed(0)} ms, cp rss per proxy ${rssPerProxyKb.toFixed(1)} KB${incomplete}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    for (const f of failures.slice(0, 5)) progress(`failure: proxy ${f.index} at ${f.stage}: ${f.error}`);
    return 0;
  } finally {
    for (const w of workers) {
      if (w.child.connected) w.send({ type: 'stop' });
    }
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            const t = setTimeout(() => w.child.kill('SIGKILL'), 5000);
            w.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    await cp.stop();
    if (args.cpuProfDir) {
      const files = (await readdir(args.cpuProfDir)).filter((f) => f.endsWith('.cpuprofile'));
      progress(`control plane CPU profile(s) in ${args.cpuProfDir}: ${files.join(', ')}`);
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench:control-plane failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
