// Istio's string match for authorization values: exact, `prefix*`, `*suffix`, or `*` (any value, but a
// value must be present). Everything else is literal: `.`, `[`, `?`, `(` are never pattern characters,
// so `cluster.local/ns/a.b/sa/x` never matches `cluster.local/ns/aXb/sa/x`.
import { normalizePath } from './path.js';

/** Why `pattern` is not a valid string match, or undefined. */
export function stringPatternProblem(pattern: string): string | undefined {
  if (pattern === '') return 'empty string';
  const stars = pattern.split('*').length - 1;
  if (stars === 0 || pattern === '*') return undefined;
  if (stars === 1 && (pattern.startsWith('*') || pattern.endsWith('*'))) return undefined;
  return 'a * may only be the whole value, a prefix (*suffix) or a suffix (prefix*)';
}

export function matchString(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

/**
 * Why a `paths`/`notPaths` entry is refused, or undefined. Besides the string-match rules: it must
 * start with `/` or `*`, must not use `{...}` templates, and its literal part must already be normalised
 * (requests are matched after `normalizePath`, so `/a//b`, `/%61dmin` or `/admin;x` would never match —
 * silently useless in a DENY rule).
 */
export function pathPatternProblem(pattern: string): string | undefined {
  const basic = stringPatternProblem(pattern);
  if (basic !== undefined) return `${basic}; path templates such as /a/{*} are not supported`;
  if (pattern === '*') return undefined;
  if (pattern.includes('{') || pattern.includes('}')) return 'path templates ({*}, {**}) are not supported; use /prefix/* or */suffix';
  if (!pattern.startsWith('/') && !pattern.startsWith('*')) return 'a path must start with / (or be *, /prefix*, */suffix)';
  if (pattern.includes('?') || pattern.includes('#')) return 'never matches: the query and fragment are not part of path matching';
  if (pattern.includes(';')) return 'never matches: path parameters (;...) are removed before matching';
  const literal = pattern.replace('*', '');
  if (literal === '') return undefined;
  const probe = literal.startsWith('/') ? literal : `/${literal}`;
  const n = normalizePath(probe);
  if (!n.ok) return `never matches: ${n.reason}`;
  // A prefix pattern `/a/*` keeps its trailing slash; `/a/.*` or `/a/..*` would be dot segments.
  if (n.path !== probe) return `never matches: requests are matched in normalised form (${JSON.stringify(n.path)}, not ${JSON.stringify(probe)})`;
  return undefined;
}
