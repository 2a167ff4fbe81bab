import { parseArgs } from 'node:util';
import { MeshError, UsageError, asError } from './errors.js';

export interface FlagDef {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  /** Shown in --help as `--flag VALUE`. */
  readonly value?: string;
  /** Environment variable read when the flag is absent. */
  readonly env?: string;
  readonly default?: string;
  readonly multiple?: boolean;
  readonly short?: string;
}

export type FlagDefs = Record<string, FlagDef>;

export interface ParsedCli {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

export function helpText(usage: string, summary: string, defs: FlagDefs): string {
  const rows = Object.entries(defs).map(([name, d]) => {
    const left = `  ${d.short ? `-${d.short}, ` : ''}--${name}${d.type === 'string' ? ` ${d.value ?? 'VALUE'}` : ''}`;
    const extra = [d.default !== undefined ? `default ${d.default}` : '', d.env ? `env ${d.env}` : '']
      .filter(Boolean)
      .join('; ');
    return `${left.padEnd(34)} ${d.help}${extra ? ` (${extra})` : ''}${d.multiple ? ' [repeatable]' : ''}`;
  });
  return `Usage: ${usage}\n\n${summary}\n\nFlags:\n${rows.join('\n')}\n  ${'-h, --help'.padEnd(32)} show this help\n`;
}

/** Parses argv strictly (unknown flags are errors); env fallbacks fill flags that were not given. */
export function parseCli(argv: readonly string[], defs: FlagDefs, env: NodeJS.ProcessEnv = process.env): ParsedCli {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, d] of Object.entries(defs)) {
    options[name] = { type: d.type, ...(d.multiple ? { multiple: true } : {}), ...(d.short ? { short: d.short } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(asError(e).message.split('\n')[0] ?? 'bad arguments');
  }
  const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
  for (const [name, d] of Object.entries(defs)) {
    if (values[name] === undefined && d.env && env[d.env] !== undefined && env[d.env] !== '') values[name] = env[d.env];
  }
  return { values, positionals: parsed.positionals };
}

export function str(values: ParsedCli['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}
export function strs(values: ParsedCli['values'], name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/**
 * Runs a binary's main: a usage or config error prints one line naming what was wrong and exits 2;
 * any other failure exits 1.
 */
export function runMain(name: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (e: unknown) => {
      const err = asError(e);
      const code = err instanceof MeshError ? err.code : 'MESH_ERR_INTERNAL';
      process.stderr.write(`${name}: ${err.message} [${code}]\n`);
      process.exitCode = err instanceof UsageError || code === 'MESH_ERR_CONFIG_INVALID' ? 2 : 1;
    },
  );
}
