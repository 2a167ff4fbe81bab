// Walks one raw policy object and collects every problem with its field path, so that one error
// names all of them (the user fixes a file once, not once per run).

export interface FieldProblem {
  readonly path: string;
  readonly reason: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `spec` + `rules` → `spec.rules`; `spec.portLevelMtls` + `8080` → `spec.portLevelMtls["8080"]`. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (!IDENTIFIER.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${v}`;
  return typeof v;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export class FieldCheck {
  readonly problems: FieldProblem[] = [];

  fail(path: string, reason: string): void {
    this.problems.push({ path, reason });
  }

  /**
   * An object whose keys are all known. `refused` names fields that exist in Istio but that this mesh
   * does not support, with the reason; any other key is an unknown field. Returns undefined (and records
   * why) for anything that is not an object.
   */
  record(raw: unknown, path: string, known: readonly string[], refused: Readonly<Record<string, string>> = {}): Record<string, unknown> | undefined {
    if (!isRecord(raw)) {
      this.fail(path, `want an object, got ${describe(raw)}`);
      return undefined;
    }
    for (const key of Object.keys(raw)) {
      if (known.includes(key)) continue;
      const why = Object.hasOwn(refused, key) ? refused[key] : undefined;
      this.fail(at(path, key), why ?? 'unknown field');
    }
    return raw;
  }

  string(raw: unknown, path: string): string | undefined {
    if (typeof raw === 'string') return raw;
    this.fail(path, `want a string, got ${describe(raw)}`);
    return undefined;
  }

  /**
   * A non-empty list of non-empty strings, each checked by `each` (which returns a reason or undefined).
   * An empty list is refused: Istio reads it as "field not set", which in an ALLOW rule means "anyone".
   */
  stringList(raw: unknown, path: string, each: (s: string) => string | undefined): string[] | undefined {
    if (!Array.isArray(raw)) {
      this.fail(path, `want a list of strings, got ${describe(raw)}`);
      return undefined;
    }
    if (raw.length === 0) {
      this.fail(path, 'empty list: remove the field, or list at least one value');
      return undefined;
    }
    const out: string[] = [];
    let bad = false;
    raw.forEach((v: unknown, i) => {
      const p = at(path, i);
      if (typeof v !== 'string') {
        this.fail(p, `want a string, got ${describe(v)}${typeof v === 'number' ? ' (quote it)' : ''}`);
        bad = true;
        return;
      }
      if (v === '') {
        this.fail(p, 'empty string');
        bad = true;
        return;
      }
      const why = each(v);
      if (why !== undefined) {
        this.fail(p, why);
        bad = true;
        return;
      }
      out.push(v);
    });
    return bad ? undefined : out;
  }

  /** A non-empty list; undefined (recorded) otherwise. */
  list(raw: unknown, path: string, allowEmpty = false): unknown[] | undefined {
    if (!Array.isArray(raw)) {
      this.fail(path, `want a list, got ${describe(raw)}`);
      return undefined;
    }
    if (raw.length === 0 && !allowEmpty) {
      this.fail(path, 'empty list: remove the field, or give at least one entry');
      return undefined;
    }
    return raw as unknown[];
  }

  oneOf<T extends string>(raw: unknown, path: string, allowed: readonly T[], special: Readonly<Record<string, string>> = {}): T | undefined {
    if (typeof raw === 'string' && (allowed as readonly string[]).includes(raw)) return raw as T;
    const why = typeof raw === 'string' && Object.hasOwn(special, raw) ? special[raw] : undefined;
    this.fail(path, why ?? `want one of ${allowed.join('|')}, got ${describe(raw)}`);
    return undefined;
  }

  port(raw: unknown, path: string): number | undefined {
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw <= 65535) return raw;
    this.fail(path, `want a port number 1..65535, got ${describe(raw)}`);
    return undefined;
  }
}
