/**
 * The load-test tooling must not rot: every scenario runs for about a second with `--smoke` (no
 * thresholds), and its summary line and JSON must be well-formed. Thresholds live only in the
 * benchmark output, never here.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, SCENARIOS, USAGE } from '../../loadtest/lib/args.js';
import { parseWrk } from '../../loadtest/lib/wrk.js';
import { parseOpensslSpeed } from '../../loadtest/lib/aes.js';

const MAIN = fileURLToPath(new URL('../../loadtest/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'loadtest-smoke-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const HAS_WRK = has('wrk');
const HAS_NGINX = has('nginx') && existsSync('/usr/lib/nginx/modules/ngx_stream_module.so');

async function loadtest(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

interface Json {
  scenario: string;
  summary: string;
  compare?: string;
  rotations?: number;
  results: { kind: string; label: string; completed: number; errors: number; non2xx: number; rps: number; latency: { p50: number; p99: number; max: number }; procs: { pid: number; cpuSeconds: number; peakRssMiB: number; vcpuPer1kRps: number }[] }[];
}

const SUMMARY = /^([a-z0-9-]+): (\d+) rps, p99 ([\d.]+) ms, errors (\d+)(, .*)?$/;

for (const scenario of SCENARIOS) {
  test.serial(`loadtest --scenario ${scenario} --smoke`, async (t) => {
    if (scenario === 'payload' && !HAS_WRK) return t.pass('wrk is not installed (apt-get install wrk): payload runs closed loop through wrk');
    const json = join(dir, `${scenario}.json`);
    const report = join(dir, `${scenario}.md`);
    const r = await loadtest(['--scenario', scenario, '--smoke', '--json', json, '--report', report]);
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const last = lines.at(-1) ?? '';
    const m = SUMMARY.exec(last);
    t.truthy(m, `summary line: ${last}`);
    t.is(m?.[1], scenario);
    t.regex(r.stdout, /^case\s+mode\s+rps\s+p50 ms/m, 'a result table');
    t.regex(r.stderr, /\[loadtest\] setting up/, 'progress on stderr');
    const j = JSON.parse(readFileSync(json, 'utf8')) as Json;
    t.is(j.scenario, scenario);
    t.is(j.summary, last);
    t.is(j.results[0]?.kind, 'baseline', 'every run measures the baseline first');
    for (const res of j.results) {
      t.true(res.completed > 0, `${res.label}: requests completed`);
      t.true(res.rps > 0 && res.latency.p50 > 0 && res.latency.max >= res.latency.p50, `${res.label}: figures`);
      for (const p of res.procs) t.true(p.pid > 0 && p.cpuSeconds >= 0 && p.peakRssMiB > 0, `${res.label}: process figures`);
    }
    if (scenario !== 'baseline') t.true(j.results.some((x) => x.kind !== 'baseline' && x.procs.length > 0), 'proxy processes measured');
    if (scenario === 'churn') t.regex(last, /handshakes\/s \d+/);
    if (scenario === 'payload') t.regex(last, /1 MiB [\d.]+ MB\/s \([\d.]+ of AES-GCM\), aes-128-gcm \d+ MB\/s/);
    if (scenario === 'rotation') {
      t.regex(last, /rotations \d+/);
      t.is(typeof j.rotations, 'number');
      t.deepEqual(j.results.map((x) => x.errors + x.non2xx), j.results.map(() => 0), 'rotation: zero errors');
    }
    const md = readFileSync(report, 'utf8');
    t.true(md.includes(last));
    t.regex(readFileSync(report.replace(/\.md$/, '.svg'), 'utf8'), /^<svg [^]*<polyline[^]*<\/svg>$/);
  });
}

test.serial('loadtest --scenario pair-l4 --smoke --compare nginx ends with the comparison line', async (t) => {
  if (!HAS_NGINX) return t.pass('nginx with the stream module is not installed (apt-get install nginx-light libnginx-mod-stream)');
  const r = await loadtest(['--scenario', 'pair-l4', '--smoke', '--compare', 'nginx']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout.trim().split('\n').at(-1) ?? '', /^pair-l4: mesh \d+ rps, nginx \d+ rps, ratio [\d.]+, p99 mesh [\d.]+ ms, nginx [\d.]+ ms$/);
});

test('bad flags: a one-line error and exit status 2', async (t) => {
  for (const args of [[], ['--scenario', 'nope'], ['--scenario', 'pair-l4', '--rate', '10', '--max'], ['--scenario', 'pair-l4', '--duration', 'soon'], ['--scenario', 'rotation', '--compare', 'nginx'], ['--bogus']]) {
    const r = await loadtest(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /^loadtest: [^\n]+\n$/, args.join(' '));
    t.is(r.stdout, '');
  }
});

test('flag defaults', (t) => {
  const o = parseArgs(['--scenario', 'pair-l4']);
  t.deepEqual([o.durationMs, o.rate, o.max, o.connections], [10_000, 1000, false, 16]);
  t.is(parseArgs(['--scenario', 'rotation']).durationMs, 60_000);
  t.true(parseArgs(['--scenario', 'payload']).max, 'payload is closed loop unless a rate is given');
  t.deepEqual([parseArgs(['--scenario', 'churn', '--max']).rate, parseArgs(['--scenario', 'churn', '--smoke']).durationMs], [undefined, 1000]);
});

test('parses wrk --latency output and openssl speed output', (t) => {
  const out = `Running 8s test @ http://127.0.0.1:1234/bytes/100
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms    2.10ms  104.43ms   97.12%
    Req/Sec    18.90k     1.20k   20.10k    80.00%
  Latency Distribution
     50%  733.00us
     75%  890.00us
     90%    1.22ms
     99%    8.94s
  151064 requests in 8.00s, 39.91MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  18883.00
Transfer/sec:      4.99MB
`;
  const r = parseWrk(out);
  t.is(r.completed, 151064);
  t.is(r.elapsedSec, 8);
  t.is(r.rps, 18883);
  t.is(r.errors, 3);
  t.is(r.non2xx, 4);
  t.is(Math.round(r.bytes), Math.round(39.91 * 1048576));
  t.deepEqual([r.latency.p50, r.latency.p90, r.latency.p99, r.latency.max], [0.733, 1.22, 8940, 104.43]);
  t.true(Number.isNaN(r.latency.p999));
  t.is(parseOpensslSpeed('The \'numbers\' are in 1000s of bytes per second processed.\ntype          16384 bytes\nAES-128-GCM    6698865.72k\n'), 6698.86572);
});

test('loadtest/README.md documents every flag and scenario', (t) => {
  const readme = readFileSync(fileURLToPath(new URL('../../../loadtest/README.md', import.meta.url)), 'utf8');
  const flags = [...new Set(USAGE.match(/--[a-z]+/g) ?? [])];
  t.true(flags.length >= 9);
  for (const f of flags) t.true(readme.includes(`| \`${f}`), `flag ${f}`);
  for (const s of SCENARIOS) t.true(readme.includes(`| \`${s}\` |`), `scenario ${s}`);
});
