// Authorization decisions, Istio semantics: any matching DENY → deny; else, if any ALLOW policy applies
// and none matches → deny; else allow. A policy without rules matches nothing (so an empty ALLOW policy
// denies everything); a rule without from/to/when matches everything.
//
// Choices, each against a known bypass:
// - Paths are matched after normalizePath (see path.ts); a path that cannot be normalised is denied with
//   reason `bad-path` (the proxy answers 400) before any policy is looked at, as DESIGN.md's default.
// - Absent identity (plaintext): `principals`/`namespaces` (even `*`) never match it; `notPrincipals`/
//   `notNamespaces` count it as "not in the list" and match, so a DENY with notNamespaces denies
//   plaintext (ISTIO-SECURITY-2021-004). The same for an absent SNI or header with notValues.
// - Principals in Istio form (`cluster.local/ns/foo/sa/x`) are compared with the SPIFFE ID without
//   `spiffe://`; a rule may also spell the scheme. Values are literal apart from a leading/trailing `*`.
// - Hosts match case-insensitively and without the port (`httpbin.foo` matches `HTTPBIN.FOO:8000` and a
//   trailing-dot `httpbin.foo.`; CVE-2021-39155); a rule host with a port compares with the port.
// - Methods are case-sensitive, as in Istio (`get` is not `GET`; parse refuses lower-case rules).
// - Paths are case-sensitive: `/ADMIN` does not match a rule on `/admin` (see path.ts for the app caveat).
// - L7 fields (hosts, methods, paths and their not-forms, request.headers conditions) on a TCP connection
//   (no `req.http`): an ALLOW rule that uses them does not match; a DENY rule ignores them and is
//   evaluated on its other fields, so it denies more rather than less (fail closed, as Istio does).
//   An unknown condition key (never produced by parse) is treated the same way.
import { inCidr, parseCidr, parseIp, type Cidr } from './ip.js';
import { normalizePath } from './path.js';
import { matchString } from './string-match.js';
import type { AuthzAction, AuthzCondition, AuthzDecision, AuthzOperation, AuthzRequest, AuthzRule, AuthzSource, ResolvedAuthzPolicy } from './types.js';

const SPIFFE_SCHEME = 'spiffe://';
const HEADER_KEY = /^request\.headers\[(.+)\]$/;

type Headers = NonNullable<AuthzRequest['http']>['headers'];
interface Http {
  readonly method: string;
  /** Normalised. */
  readonly path: string;
  /** Lower case, no port, no trailing dot; undefined when the request has no Host. */
  readonly host: string | undefined;
  readonly hostWithPort: string | undefined;
  readonly headers: Headers;
}

interface Ctx {
  readonly principal: string | undefined;
  readonly namespace: string | undefined;
  readonly ip: bigint | undefined;
  readonly port: number;
  readonly sni: string | undefined;
  readonly http: Http | undefined;
  /** DENY: an L7 field on TCP counts as matching (ignored); ALLOW: as not matching. */
  readonly l7OnTcp: boolean;
}

// Parsed CIDRs, shared by all evaluations: the same few rule strings come back on every request.
const cidrCache = new Map<string, Cidr | null>();
function cidr(s: string): Cidr | undefined {
  let c = cidrCache.get(s);
  if (c === undefined) {
    if (cidrCache.size > 10_000) cidrCache.clear();
    c = parseCidr(s) ?? null;
    cidrCache.set(s, c);
  }
  return c ?? undefined;
}

const stripScheme = (s: string): string => (s.startsWith(SPIFFE_SCHEME) ? s.slice(SPIFFE_SCHEME.length) : s);

function namespaceFromPrincipal(principal: string | undefined): string | undefined {
  return principal === undefined ? undefined : /\/ns\/([^/]+)\//.exec(principal)?.[1];
}

/** `Host: HTTPBIN.Foo.:8000` → with port `httpbin.foo:8000`, without `httpbin.foo`. */
function splitHost(raw: string): { host: string | undefined; hostWithPort: string | undefined } {
  let h = raw.trim().toLowerCase();
  if (h === '') return { host: undefined, hostWithPort: undefined };
  let port = '';
  const m = /^(\[[^\]]*\]|[^:]*)(:\d*)$/.exec(h);
  if (m) {
    h = m[1] ?? '';
    port = m[2] ?? '';
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return { host: h, hostWithPort: h + port };
}

function hostMatches(pattern: string, http: Http): boolean {
  const p = pattern.toLowerCase();
  const value = /^(\[[^\]]*\]|[^:]*):\d+$/.test(p) ? http.hostWithPort : http.host;
  return value !== undefined && matchString(p, value);
}

function header(headers: Headers, name: string): string | undefined {
  const lower = name.toLowerCase();
  let v = headers[lower];
  if (v === undefined) {
    for (const k of Object.keys(headers)) {
      if (k.toLowerCase() === lower) {
        v = headers[k];
        break;
      }
    }
  }
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

/** `values`: the attribute must be present and match one. */
function anyOf(values: readonly string[] | undefined, value: string | undefined, match: (pattern: string, value: string) => boolean): boolean {
  if (values === undefined) return true;
  return value !== undefined && values.some((p) => match(p, value));
}
/** `notValues`: an absent attribute is "not in the list". */
function noneOf(values: readonly string[] | undefined, value: string | undefined, match: (pattern: string, value: string) => boolean): boolean {
  if (values === undefined || value === undefined) return true;
  return !values.some((p) => match(p, value));
}

const principalMatch = (pattern: string, principal: string): boolean => matchString(stripScheme(pattern), principal);
const ipMatch = (ip: bigint | undefined) => (block: string): boolean => {
  const c = cidr(block);
  return ip !== undefined && c !== undefined && inCidr(ip, c);
};
const portMatch = (port: number) => (text: string): boolean => /^\d+$/.test(text) && Number(text) === port;

function sourceMatches(s: AuthzSource, ctx: Ctx): boolean {
  return (
    anyOf(s.principals, ctx.principal, principalMatch) &&
    noneOf(s.notPrincipals, ctx.principal, principalMatch) &&
    anyOf(s.namespaces, ctx.namespace, matchString) &&
    noneOf(s.notNamespaces, ctx.namespace, matchString) &&
    (s.ipBlocks === undefined || s.ipBlocks.some(ipMatch(ctx.ip))) &&
    (s.notIpBlocks === undefined || ctx.ip === undefined || !s.notIpBlocks.some(ipMatch(ctx.ip)))
  );
}

function operationMatches(o: AuthzOperation, ctx: Ctx): boolean {
  if (o.ports !== undefined && !o.ports.some(portMatch(ctx.port))) return false;
  if (o.notPorts !== undefined && o.notPorts.some(portMatch(ctx.port))) return false;
  const usesL7 = o.hosts !== undefined || o.notHosts !== undefined || o.methods !== undefined || o.notMethods !== undefined || o.paths !== undefined || o.notPaths !== undefined;
  if (!usesL7) return true;
  const http = ctx.http;
  if (!http) return ctx.l7OnTcp;
  const host = (p: string): boolean => hostMatches(p, http);
  return (
    (o.hosts === undefined || o.hosts.some(host)) &&
    (o.notHosts === undefined || http.host === undefined || !o.notHosts.some(host)) &&
    anyOf(o.methods, http.method, matchString) &&
    noneOf(o.notMethods, http.method, matchString) &&
    anyOf(o.paths, http.path, matchString) &&
    noneOf(o.notPaths, http.path, matchString)
  );
}

function conditionMatches(c: AuthzCondition, ctx: Ctx): boolean {
  switch (c.key) {
    case 'source.ip':
      return (c.values === undefined || c.values.some(ipMatch(ctx.ip))) && (c.notValues === undefined || ctx.ip === undefined || !c.notValues.some(ipMatch(ctx.ip)));
    case 'source.namespace':
      return anyOf(c.values, ctx.namespace, matchString) && noneOf(c.notValues, ctx.namespace, matchString);
    case 'source.principal':
      return anyOf(c.values, ctx.principal, principalMatch) && noneOf(c.notValues, ctx.principal, principalMatch);
    case 'destination.port':
      return (c.values === undefined || c.values.some(portMatch(ctx.port))) && (c.notValues === undefined || !c.notValues.some(portMatch(ctx.port)));
    case 'connection.sni':
      return anyOf(c.values, ctx.sni, matchString) && noneOf(c.notValues, ctx.sni, matchString);
  }
  const name = HEADER_KEY.exec(c.key)?.[1];
  if (name === undefined || !ctx.http) return ctx.l7OnTcp;
  const value = header(ctx.http.headers, name);
  return anyOf(c.values, value, matchString) && noneOf(c.notValues, value, matchString);
}

function ruleMatches(r: AuthzRule, ctx: Ctx): boolean {
  if (r.from !== undefined && !r.from.some((f) => sourceMatches(f.source, ctx))) return false;
  if (r.to !== undefined && !r.to.some((t) => operationMatches(t.operation, ctx))) return false;
  if (r.when !== undefined && !r.when.every((c) => conditionMatches(c, ctx))) return false;
  return true;
}

function withAction(base: Omit<Ctx, 'l7OnTcp'>, action: AuthzAction): Ctx {
  return { ...base, l7OnTcp: action === 'DENY' };
}

export function evaluate(policies: readonly ResolvedAuthzPolicy[], req: AuthzRequest): AuthzDecision {
  let http: Ctx['http'];
  if (req.http) {
    const n = normalizePath(req.http.path);
    if (!n.ok) return { allowed: false, reason: 'bad-path' };
    http = { method: req.http.method, path: n.path, ...splitHost(req.http.host), headers: req.http.headers };
  }
  const principal = req.sourcePrincipal === undefined || req.sourcePrincipal === '' ? undefined : stripScheme(req.sourcePrincipal);
  const base = {
    principal,
    namespace: req.sourceNamespace || namespaceFromPrincipal(principal),
    ip: parseIp(req.sourceIp, true),
    port: req.destinationPort,
    sni: req.sni || undefined,
    http,
  };
  const deny = withAction(base, 'DENY');
  for (const p of policies) {
    if (p.action === 'DENY' && p.rules.some((r) => ruleMatches(r, deny))) return { allowed: false, policy: p.name, reason: 'deny-matched' };
  }
  const allow = withAction(base, 'ALLOW');
  let anyAllow = false;
  for (const p of policies) {
    if (p.action !== 'ALLOW') continue;
    anyAllow = true;
    if (p.rules.some((r) => ruleMatches(r, allow))) return { allowed: true, policy: p.name };
  }
  return anyAllow ? { allowed: false, reason: 'no-allow-matched' } : { allowed: true };
}
