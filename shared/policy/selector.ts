// `selector.matchLabels`: parsing (label syntax, no wildcards) and matching (every pair present).
import { at, isRecord, type FieldCheck } from './field-check.js';
import { labelValueProblem, qualifiedNameProblem } from './names.js';

export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
}

/**
 * The selector at `path`, or undefined when it is absent or selects nothing in particular
 * (`selector: {}` / `matchLabels: {}`), which Istio reads as "no selector".
 */
export function checkSelector(c: FieldCheck, raw: unknown, path: string): LabelSelector | undefined {
  if (raw === undefined) return undefined;
  const o = c.record(raw, path, ['matchLabels'], {
    matchExpressions: 'not supported by Istio policies: use matchLabels',
  });
  if (!o || o.matchLabels === undefined) return undefined;
  const labels = checkStringMap(c, o.matchLabels, at(path, 'matchLabels'), labelValueProblem);
  return labels && Object.keys(labels).length > 0 ? { matchLabels: labels } : undefined;
}

/** A map of label/annotation keys to strings; `valueProblem` checks each value. */
export function checkStringMap(
  c: FieldCheck,
  raw: unknown,
  path: string,
  valueProblem: (v: string) => string | undefined,
): Record<string, string> | undefined {
  if (!isRecord(raw)) {
    c.fail(path, `want a map of strings, got ${raw === null ? 'null' : Array.isArray(raw) ? 'a list' : typeof raw}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    const p = at(path, k);
    const keyWhy = qualifiedNameProblem(k);
    if (keyWhy !== undefined) {
      c.fail(p, keyWhy);
      continue;
    }
    if (typeof v !== 'string') {
      c.fail(p, `want a string, got ${v === null ? 'null' : typeof v}${typeof v === 'number' || typeof v === 'boolean' ? ' (quote it)' : ''}`);
      continue;
    }
    const valueWhy = valueProblem(v);
    if (valueWhy !== undefined) {
      c.fail(p, valueWhy);
      continue;
    }
    out[k] = v;
  }
  return out;
}

export function selectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  return Object.entries(selector.matchLabels).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
}
