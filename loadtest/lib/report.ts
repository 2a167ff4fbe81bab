/** The results table (stdout) and the markdown report with an SVG latency-percentile chart. */
import type { LatencySummary } from './generator.js';
import type { ProcUsage } from './procstat.js';

export interface CaseResult {
  kind: string;
  label: string;
  round: number;
  mode: 'open' | 'closed';
  rate: number | undefined;
  connections: number;
  completed: number;
  errors: number;
  errorSamples: string[];
  non2xx: number;
  rps: number;
  mbps: number;
  latency: LatencySummary;
  procs: ProcUsage[];
  generatorLimited: string | undefined;
}

const f = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : '-');

export function table(rows: readonly CaseResult[]): string {
  const head = ['case', 'mode', 'rps', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'non-2xx', 'MB/s', 'proxy CPU s', 'vCPU/1k rps/sidecar', 'peak RSS MiB'];
  const body = rows.map((r) => {
    const sidecars = r.procs.length || 1;
    const cpu = r.procs.reduce((a, p) => a + p.cpuSeconds, 0);
    const per1k = r.procs.reduce((a, p) => a + p.vcpuPer1kRps, 0) / sidecars;
    return [
      r.label + (r.round > 0 ? ` #${r.round + 1}` : ''),
      r.mode === 'open' ? `open ${r.rate ?? 0}/s` : `max c${r.connections}`,
      f(r.rps, 0),
      f(r.latency.p50),
      f(r.latency.p90),
      f(r.latency.p99),
      f(r.latency.p999),
      f(r.latency.max),
      String(r.errors),
      String(r.non2xx),
      f(r.mbps, 1),
      r.procs.length ? f(cpu, 2) : '-',
      r.procs.length ? f(per1k, 3) : '-',
      r.procs.length ? r.procs.map((p) => f(p.peakRssMiB, 0)).join('/') : '-',
    ];
  });
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

export function markdownTable(rows: readonly CaseResult[]): string {
  const t = table(rows).split('\n').map((l) => l.split(/\s{2,}/));
  const [head, ...body] = t;
  if (!head) return '';
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** Latency by percentile: x is log10(1 / (1 − p)) (50% … 99.99%), y is ms on a log scale. */
export function latencySvg(rows: readonly CaseResult[]): string {
  const W = 720;
  const H = 400;
  const L = 60;
  const R = 200;
  const T = 20;
  const B = 40;
  const xOf = (p: number): number => {
    const q = Math.min(p, 99.99);
    return L + (Math.log10(100 / (100 - q)) - Math.log10(2)) / (4 - Math.log10(2)) * (W - L - R);
  };
  const vals = rows.flatMap((r) => r.latency.percentiles.map((x) => x.ms)).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.log10(Math.max(0.01, Math.min(...vals, 1)));
  const hi = Math.log10(Math.max(...vals, 1) * 1.2);
  const yOf = (ms: number): number => T + (H - T - B) * (1 - (Math.log10(Math.max(ms, 0.01)) - lo) / Math.max(hi - lo, 0.1));
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  for (const p of [50, 90, 99, 99.9, 99.99]) {
    const x = xOf(p).toFixed(1);
    parts.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${H - B}" stroke="#ddd"/><text x="${x}" y="${H - B + 15}" text-anchor="middle">p${p}</text>`);
  }
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    const ms = 10 ** e;
    const y = yOf(ms);
    if (y < T - 1 || y > H - B + 1) continue;
    parts.push(`<line x1="${L}" y1="${y.toFixed(1)}" x2="${W - R}" y2="${y.toFixed(1)}" stroke="#ddd"/><text x="${L - 5}" y="${(y + 4).toFixed(1)}" text-anchor="end">${ms} ms</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 5}" text-anchor="middle">percentile (latency from the scheduled send time)</text>`);
  rows.forEach((r, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const pts = r.latency.percentiles.filter((x) => x.p < 100 && Number.isFinite(x.ms)).map((x) => `${xOf(x.p).toFixed(1)},${yOf(x.ms).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    parts.push(`<text x="${W - R + 10}" y="${T + 15 + i * 16}" fill="${color}">${escapeXml(r.label + (r.round > 0 ? ` #${r.round + 1}` : ''))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
