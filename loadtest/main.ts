/**
 * npm run loadtest -- --scenario NAME [--duration 10s] [--rate N | --max] [--connections 16]
 *                     [--json FILE] [--report FILE.md] [--compare nginx] [--smoke]
 *
 * Measures one scenario (and, in every run, the baseline: client → app) on loopback. Progress goes
 * to stderr; a results table and a one-line summary to stdout (with --compare nginx, the last line is
 * the comparison). See loadtest/README.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs, UsageError, type Options } from './lib/args.js';
import { aesGcmMBps } from './lib/aes.js';
import { runOpenLoop } from './lib/generator.js';
import { startNginx, type NginxPair } from './lib/nginx.js';
import { round, startUsage } from './lib/procstat.js';
import { latencySvg, markdownTable, table, type CaseResult } from './lib/report.js';
import { setupScenario, type Case, type ScenarioEnv } from './lib/scenarios.js';
import { runWrk } from './lib/wrk.js';

const log = (m: string): void => void process.stderr.write(`[loadtest] ${m}\n`);

async function measure(c: Case, o: Options, roundNo: number): Promise<CaseResult> {
  log(`${c.label}${roundNo > 0 ? ` #${roundNo + 1}` : ''}: ${o.max ? `closed loop (wrk), ${o.connections} connections` : `open loop ${o.rate ?? 0}/s`}, ${o.durationMs} ms${c.churn ? ', new connection per request' : ''}${c.newConnectionEvery && !o.max ? `, every ${c.newConnectionEvery}th request on a new connection` : ''}`);
  const usage = startUsage(c.procs);
  if (o.max) {
    const r = await runWrk({ url: `http://127.0.0.1:${c.port}${c.path}`, hostHeader: c.hostHeader, durationMs: o.durationMs, connections: o.connections, churn: c.churn });
    return {
      kind: c.kind, label: c.label, round: roundNo, mode: 'closed', rate: undefined, connections: o.connections,
      completed: r.completed, errors: r.errors, errorSamples: r.errorSamples, non2xx: r.non2xx, rps: r.rps,
      mbps: r.bytes / 1e6 / r.elapsedSec, latency: r.latency, procs: usage.finish(r.completed), generatorLimited: r.generatorLimited,
    };
  }
  const r = await runOpenLoop({ host: '127.0.0.1', port: c.port, path: c.path, hostHeader: c.hostHeader, rate: o.rate ?? 1000, durationMs: o.durationMs, connections: o.connections, churn: c.churn, newConnectionEvery: c.newConnectionEvery });
  return {
    kind: c.kind, label: c.label, round: roundNo, mode: 'open', rate: o.rate, connections: o.connections,
    completed: r.completed, errors: r.errors, errorSamples: r.errorSamples, non2xx: r.non2xx, rps: r.rps,
    mbps: r.bytes / 1e6 / r.elapsedSec, latency: r.latency, procs: usage.finish(r.completed), generatorLimited: r.generatorLimited,
  };
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

interface Summary {
  line: string;
  compareLine: string | undefined;
}

async function run(o: Options): Promise<number> {
  const started = new Date().toISOString();
  let aesMBps: number | undefined;
  if (o.scenario === 'payload') {
    log('openssl speed -evp aes-128-gcm (single core)');
    aesMBps = await aesGcmMBps(o.smoke ? 1 : 3);
  }
  log(`setting up ${o.scenario}`);
  const env: ScenarioEnv = await setupScenario(o.scenario, { smoke: o.smoke, log });
  let nginx: NginxPair | undefined;
  const nginxDir = mkdtempSync(join(tmpdir(), 'mesh-loadtest-nginx-'));
  const results: CaseResult[] = [];
  let rotationsBefore = env.rotations();
  let rotationsAfter = rotationsBefore;
  try {
    const nginxCases: Case[] = [];
    if (o.compare === 'nginx') {
      if (!env.nginxKind) throw new UsageError(`--compare nginx: no nginx equivalent for scenario ${o.scenario}`);
      log(`starting an nginx pair (${env.nginxKind})`);
      nginx = await startNginx(env.nginxKind, nginxDir, env.certs(), env.appPort);
      for (const c of env.cases) nginxCases.push({ ...c, kind: 'nginx', label: c.label.replace(/^(pair-l4|pair-l7|server-only|churn|naive-l4)/, 'nginx $1').replace(/^payload/, 'nginx payload'), port: nginx.port, procs: nginx.workers });
    }
    // rotation runs a minute; its baseline need not.
    results.push(await measure(env.baseline, o.scenario === 'rotation' ? { ...o, durationMs: Math.min(o.durationMs, 10_000) } : o, 0));
    rotationsBefore = env.rotations();
    // Interleaved: mesh, nginx, mesh, nginx … so that machine noise weighs on both.
    const rounds = o.compare && !o.smoke ? 2 : 1;
    for (let i = 0; i < env.cases.length; i++) {
      for (let r = 0; r < rounds; r++) {
        results.push(await measure(env.cases[i] as Case, o, r));
        const n = nginxCases[i];
        if (n) results.push(await measure(n, o, r));
      }
    }
    rotationsAfter = env.rotations();
  } finally {
    await nginx?.stop().catch(() => undefined);
    rmSync(nginxDir, { recursive: true, force: true });
    await env.stop();
  }
  const rotations = rotationsAfter - rotationsBefore;

  const out: string[] = [table(results), ''];
  const warnings: string[] = [];
  for (const r of results) {
    if (r.generatorLimited) warnings.push(`GENERATOR-LIMITED: ${r.label}: ${r.generatorLimited}; this figure measures the load generator, not the proxy`);
    if (r.errors > 0) warnings.push(`errors in ${r.label}: ${r.errors} (${r.errorSamples.slice(0, 2).join('; ')})`);
  }
  const base = results[0];
  const main = results.filter((r) => r.kind !== 'baseline' && r.kind !== 'nginx');
  if (base && main.length && base.mode === 'closed' && main.every((m) => m.rps >= base.rps * 0.95)) {
    warnings.push(`GENERATOR-LIMITED: the proxied cases reached the baseline's own rps (${base.rps.toFixed(0)}): the generator or the app, not the proxy, set the ceiling`);
  }
  for (const w of warnings) out.push(`!!! ${w}`);
  const s = summarize(o, results, rotations, aesMBps);
  out.push(s.line);
  if (s.compareLine) out.push(s.compareLine);
  process.stdout.write(`${out.join('\n')}\n`);

  const json = {
    scenario: o.scenario,
    startedAt: started,
    node: process.version,
    options: { ...o },
    results,
    rotations: o.scenario === 'rotation' ? rotations : undefined,
    aesGcmMBps: aesMBps,
    warnings,
    summary: s.line,
    compare: s.compareLine,
  };
  for (const f of [o.json, o.report]) if (f) mkdirSync(dirname(f), { recursive: true });
  if (o.json) writeFileSync(o.json, `${JSON.stringify(json, null, 2)}\n`);
  if (o.report) {
    const svg = o.report.replace(/\.md$/, '.svg');
    writeFileSync(svg, latencySvg(results));
    writeFileSync(o.report, [
      `# loadtest: ${o.scenario}`,
      '',
      `${started}, Node ${process.version}, ${o.max ? `closed loop (wrk -t1 -c${o.connections})` : `open loop ${o.rate ?? 0} req/s over ${o.connections} connections`}, ${o.durationMs / 1000} s per run${o.smoke ? ' (smoke)' : ''}.`,
      '',
      markdownTable(results),
      '',
      ...warnings.map((w) => `- **${w}**`),
      '',
      '```',
      s.line,
      ...(s.compareLine ? [s.compareLine] : []),
      '```',
      '',
      `![latency by percentile](${basename(svg)})`,
      '',
    ].join('\n'));
  }
  const mustBeClean = o.scenario === 'rotation';
  return mustBeClean && results.some((r) => r.errors > 0 || r.non2xx > 0) ? 1 : 0;
}

function summarize(o: Options, results: CaseResult[], rotations: number, aesMBps: number | undefined): Summary {
  const mine = results.filter((r) => r.kind === 'mesh' || r.kind === 'naive');
  const theirs = results.filter((r) => r.kind === 'nginx');
  const subject = mine.length ? mine : results;
  const rps = mean(subject.map((r) => r.rps));
  const p99 = mean(subject.map((r) => r.latency.p99));
  const errors = subject.reduce((a, r) => a + r.errors + r.non2xx, 0);
  const extras: string[] = [];
  const sidecars = subject[0]?.procs.length ?? 0;
  if (sidecars) {
    extras.push(`vCPU/1k rps/sidecar ${round(mean(subject.map((r) => mean(r.procs.map((p) => p.vcpuPer1kRps)))), 3)}`);
    extras.push(`peak RSS ${Math.max(...subject.flatMap((r) => r.procs.map((p) => p.peakRssMiB))).toFixed(0)} MiB`);
  }
  if (o.scenario === 'churn') extras.push(`handshakes/s ${rps.toFixed(0)}`);
  if (o.scenario === 'rotation') extras.push(`rotations ${rotations}`);
  const bySize = (rows: CaseResult[], label: string): CaseResult[] => rows.filter((r) => r.label.replace(/^nginx /, '') === label);
  const labels = [...new Set(mine.map((r) => r.label))];
  if (o.scenario === 'payload') {
    for (const l of labels) {
      const mbps = mean(bySize(mine, l).map((r) => r.mbps));
      extras.push(`${l.replace('payload ', '')} ${mbps.toFixed(1)} MB/s${aesMBps ? ` (${(mbps / aesMBps).toFixed(3)} of AES-GCM)` : ''}`);
    }
    if (aesMBps) extras.push(`aes-128-gcm ${aesMBps.toFixed(0)} MB/s`);
  }
  const line = `${o.scenario}: ${rps.toFixed(0)} rps, p99 ${p99.toFixed(2)} ms, errors ${errors}${extras.length ? `, ${extras.join(', ')}` : ''}`;
  let compareLine: string | undefined;
  if (theirs.length) {
    const lines: string[] = [];
    // payload: one MB/s line per size; the final line is the 64 KiB case (the size the goal is set on).
    let x = rps;
    let a = p99;
    let them = theirs;
    if (o.scenario === 'payload') {
      for (const l of labels) {
        const m = mean(bySize(mine, l).map((r) => r.mbps));
        const n = mean(bySize(theirs, l).map((r) => r.mbps));
        lines.push(`${l}: mesh ${m.toFixed(1)} MB/s, nginx ${n.toFixed(1)} MB/s, ratio ${(m / n).toFixed(2)}`);
      }
      const main = bySize(mine, 'payload 64 KiB');
      x = mean(main.map((r) => r.rps));
      a = mean(main.map((r) => r.latency.p99));
      them = bySize(theirs, 'payload 64 KiB');
    }
    const y = mean(them.map((r) => r.rps));
    const b = mean(them.map((r) => r.latency.p99));
    lines.push(`${o.scenario}: mesh ${x.toFixed(0)} rps, nginx ${y.toFixed(0)} rps, ratio ${(x / y).toFixed(2)}, p99 mesh ${a.toFixed(2)} ms, nginx ${b.toFixed(2)} ms`);
    compareLine = lines.join('\n');
  }
  return { line, compareLine };
}

let options: Options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`loadtest: ${e.message}\n`);
    process.exit(2);
  }
  throw e;
}
try {
  process.exitCode = await run(options);
} catch (e) {
  if (e instanceof UsageError) {
    process.stderr.write(`loadtest: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`loadtest: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
