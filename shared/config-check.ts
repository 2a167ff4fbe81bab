import { ConfigInvalidError } from './errors.js';
import { parseDurationMs } from './duration.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Collects every problem with a piece of configuration, so that one error names all of them.
 * Each check takes the raw value and the name the user knows it by (`--workload-ttl`, `proxy.inboundPort`).
 */
export class Problems {
  readonly #list: string[] = [];

  add(name: string, want: string, got: unknown): void {
    this.#list.push(`${name}: want ${want}, got ${JSON.stringify(got)}`);
  }
  note(message: string): void {
    this.#list.push(message);
  }
  get any(): boolean {
    return this.#list.length > 0;
  }

  /** A plain object whose keys are all known; retired keys name their successor. */
  record(raw: unknown, name: string, known: readonly string[], retired: Record<string, string> = {}): Record<string, unknown> {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      this.add(name, 'an object', raw);
      return {};
    }
    for (const key of Object.keys(raw)) {
      if (known.includes(key)) continue;
      const next = retired[key];
      this.#list.push(next ? `${name}.${key}: renamed to ${next}` : `${name}.${key}: unknown field`);
    }
    return raw as Record<string, unknown>;
  }

  duration(name: string, raw: string | undefined, opts: { def: number; min?: number; max?: number }): number {
    if (raw === undefined) return opts.def;
    const ms = parseDurationMs(raw);
    if (ms === undefined) {
      this.add(name, 'a duration such as 90s, 24h or 7d', raw);
      return opts.def;
    }
    if ((opts.min !== undefined && ms < opts.min) || (opts.max !== undefined && ms > opts.max)) {
      this.add(name, `a duration between ${opts.min ?? 0}ms and ${opts.max ?? Infinity}ms`, raw);
      return opts.def;
    }
    return ms;
  }

  int(name: string, raw: string | number | undefined, opts: { def: number; min: number; max: number }): number {
    if (raw === undefined) return opts.def;
    const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(n) || n < opts.min || n > opts.max) {
      this.add(name, `integer ${opts.min}..${opts.max}`, raw);
      return opts.def;
    }
    return n;
  }

  /** `host:port` with an IPv4 address or name, or `[v6]:port`; port 0 means "any free port". */
  hostPort(name: string, raw: string | undefined, def: HostPort): HostPort {
    if (raw === undefined) return def;
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port > 65535) {
      this.add(name, 'host:port such as 127.0.0.1:15012', raw);
      return def;
    }
    return { host: m[1] ?? m[2] ?? '', port };
  }

  oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], def: T): T {
    if (raw === undefined) return def;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.add(name, `one of ${allowed.join('|')}`, raw);
    return def;
  }

  check(ok: boolean, name: string, want: string, got: unknown): void {
    if (!ok) this.add(name, want, got);
  }

  throwIfAny(): void {
    if (this.#list.length > 0) throw new ConfigInvalidError([...this.#list]);
  }
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
