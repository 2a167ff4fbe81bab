/** Command-line flags of `npm run loadtest`. A bad flag is a one-line error and exit status 2. */

export const SCENARIOS = ['baseline', 'naive-l4', 'pair-l4', 'pair-l7', 'server-only', 'churn', 'payload', 'rotation'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Options {
  scenario: ScenarioName;
  /** Measured time per run, ms. */
  durationMs: number;
  /** Open-loop arrival rate (requests/s); undefined in closed-loop (`--max`) mode. */
  rate: number | undefined;
  max: boolean;
  connections: number;
  json: string | undefined;
  report: string | undefined;
  compare: 'nginx' | undefined;
  smoke: boolean;
}

export class UsageError extends Error {}

export const USAGE = `usage: npm run loadtest -- --scenario NAME [--duration 10s] [--rate N | --max] [--connections 16]
       [--json FILE] [--report FILE.md] [--compare nginx] [--smoke]
scenarios: ${SCENARIOS.join(', ')}`;

/** `10s`, `1500ms`, `2m` or a bare number of seconds → ms. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new UsageError(`--duration: want e.g. 10s, 500ms or 1m, got "${v}"`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (ms < 100 || ms > 600_000) throw new UsageError(`--duration: want between 100ms and 10m, got "${v}"`);
  return ms;
}

function positiveInt(flag: string, v: string | undefined, max: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag}: want an integer from 1 to ${max}, got "${v ?? ''}"`);
  return n;
}

export function parseArgs(argv: readonly string[]): Options {
  let scenario: string | undefined;
  let duration: number | undefined;
  let rate: number | undefined;
  let max = false;
  let connections = 16;
  let json: string | undefined;
  let report: string | undefined;
  let compare: 'nginx' | undefined;
  let smoke = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag}: missing value`);
      return v;
    };
    switch (flag) {
      case '--scenario': scenario = value(); break;
      case '--duration': duration = parseDuration(value()); break;
      case '--rate': rate = positiveInt('--rate', value(), 200_000); break;
      case '--max': max = true; break;
      case '--connections': connections = positiveInt('--connections', value(), 1024); break;
      case '--json': json = value(); break;
      case '--report': report = value(); break;
      case '--compare': {
        const v = value();
        if (v !== 'nginx') throw new UsageError(`--compare: only "nginx" is supported, got "${v}"`);
        compare = v;
        break;
      }
      case '--smoke': smoke = true; break;
      case '--help': case '-h': throw new UsageError(USAGE);
      default: throw new UsageError(`unknown flag "${flag}" (see --help)`);
    }
  }
  if (scenario === undefined) throw new UsageError(`--scenario is required: one of ${SCENARIOS.join(', ')}`);
  if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new UsageError(`--scenario: unknown "${scenario}", want one of ${SCENARIOS.join(', ')}`);
  if (compare && (scenario === 'baseline' || scenario === 'rotation')) throw new UsageError(`--compare nginx: no nginx equivalent for scenario ${scenario}`);
  if (max && rate !== undefined) throw new UsageError('--rate and --max exclude each other');
  if (report !== undefined && !report.endsWith('.md')) throw new UsageError(`--report: want a .md file, got "${report}"`);
  const durationMs = duration ?? (smoke ? 1000 : scenario === 'rotation' ? 60_000 : 10_000);
  // payload is about MB/s, so closed loop unless a rate is asked for.
  const closed = max || (scenario === 'payload' && rate === undefined);
  return {
    scenario: scenario as ScenarioName,
    durationMs,
    rate: closed ? undefined : (rate ?? (smoke ? 200 : 1000)),
    max: closed,
    connections,
    json,
    report,
    compare,
    smoke,
  };
}
