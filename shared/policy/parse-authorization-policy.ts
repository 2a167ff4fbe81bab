// AuthorizationPolicy (security.istio.io v1beta1/v1) spec. Anything the proxy could not evaluate is
// refused with its field named: an ignored condition in an ALLOW rule grants access, and in a DENY rule
// withholds protection.
import { at, type FieldCheck } from './field-check.js';
import { parseCidr } from './ip.js';
import { checkSelector } from './selector.js';
import { pathPatternProblem, stringPatternProblem } from './string-match.js';
import type { AuthorizationPolicy, AuthzAction, AuthzCondition, AuthzOperation, AuthzRule, AuthzSource } from './types.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const NO_JWT = 'JWT request principals are not supported by this mesh (it has no JWT authentication)';
const NO_XFF = 'remote IP blocks (from X-Forwarded-For) are not supported by this mesh: use ipBlocks';
const REFUSED_SPEC: Readonly<Record<string, string>> = {
  provider: 'CUSTOM authorization providers are not supported by this mesh',
  targetRef: 'targetRef (gateway/waypoint policies) is not supported: use selector',
  targetRefs: 'targetRefs (gateway/waypoint policies) is not supported: use selector',
};
const REFUSED_SOURCE: Readonly<Record<string, string>> = {
  requestPrincipals: NO_JWT,
  notRequestPrincipals: NO_JWT,
  remoteIpBlocks: NO_XFF,
  notRemoteIpBlocks: NO_XFF,
};
const SOURCE_FIELDS = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks'] as const;
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

const SIMPLE_KEYS = ['source.ip', 'source.namespace', 'source.principal', 'destination.port', 'connection.sni'] as const;
export const HEADER_KEY = /^request\.headers\[([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\]$/;

export function ipBlockProblem(s: string): string | undefined {
  return parseCidr(s) ? undefined : 'want an IPv4/IPv6 address or CIDR block (10.0.0.0/8, 2001:db8::/32)';
}

export function portTextProblem(s: string): string | undefined {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  return n >= 1 && n <= 65535 ? undefined : 'want a port number 1..65535 as a string ("8080")';
}

function methodProblem(s: string): string | undefined {
  const basic = stringPatternProblem(s);
  if (basic) return basic;
  // Methods are case-sensitive (as in Istio): `get` would never match a real GET request.
  if (/[a-z]/.test(s)) return 'HTTP methods are case-sensitive and upper case (GET, not get)';
  return undefined;
}

function checkSource(c: FieldCheck, raw: unknown, path: string): AuthzSource | undefined {
  const o = c.record(raw, path, SOURCE_FIELDS, REFUSED_SOURCE);
  if (!o) return undefined;
  const out: Mutable<AuthzSource> = {};
  for (const f of SOURCE_FIELDS) {
    if (o[f] === undefined) continue;
    const each = f === 'ipBlocks' || f === 'notIpBlocks' ? ipBlockProblem : stringPatternProblem;
    const v = c.stringList(o[f], at(path, f), each);
    if (v) out[f] = v;
  }
  if (Object.keys(o).length === 0) c.fail(path, 'empty source: it would match every caller; remove the from entry or name a field');
  return out;
}

function checkOperation(c: FieldCheck, raw: unknown, path: string): AuthzOperation | undefined {
  const o = c.record(raw, path, OPERATION_FIELDS);
  if (!o) return undefined;
  const out: Mutable<AuthzOperation> = {};
  for (const f of OPERATION_FIELDS) {
    if (o[f] === undefined) continue;
    const each =
      f === 'paths' || f === 'notPaths' ? pathPatternProblem : f === 'ports' || f === 'notPorts' ? portTextProblem : f === 'methods' || f === 'notMethods' ? methodProblem : stringPatternProblem;
    const v = c.stringList(o[f], at(path, f), each);
    if (v) out[f] = v;
  }
  if (Object.keys(o).length === 0) c.fail(path, 'empty operation: it would match every request; remove the to entry or name a field');
  return out;
}

function conditionKeyProblem(key: string): string | undefined {
  if ((SIMPLE_KEYS as readonly string[]).includes(key) || HEADER_KEY.test(key)) return undefined;
  if (key.startsWith('request.auth.')) return `${key}: JWT claims are not supported by this mesh`;
  return `unsupported condition key ${JSON.stringify(key)}: want one of ${SIMPLE_KEYS.join(', ')}, request.headers[NAME]`;
}

function checkCondition(c: FieldCheck, raw: unknown, path: string): AuthzCondition | undefined {
  const o = c.record(raw, path, ['key', 'values', 'notValues']);
  if (!o) return undefined;
  const keyPath = at(path, 'key');
  if (o.key === undefined) {
    c.fail(keyPath, 'required');
    return undefined;
  }
  const key = c.string(o.key, keyPath);
  if (key === undefined) return undefined;
  const why = conditionKeyProblem(key);
  if (why) {
    c.fail(keyPath, why);
    return undefined;
  }
  const each = key === 'source.ip' ? ipBlockProblem : key === 'destination.port' ? portTextProblem : stringPatternProblem;
  const out: Mutable<AuthzCondition> = { key };
  if (o.values !== undefined) {
    const v = c.stringList(o.values, at(path, 'values'), each);
    if (v) out.values = v;
  }
  if (o.notValues !== undefined) {
    const v = c.stringList(o.notValues, at(path, 'notValues'), each);
    if (v) out.notValues = v;
  }
  if (o.values === undefined && o.notValues === undefined) c.fail(path, 'want values or notValues (or both)');
  return out;
}

function checkRule(c: FieldCheck, raw: unknown, path: string): AuthzRule | undefined {
  const o = c.record(raw, path, ['from', 'to', 'when']);
  if (!o) return undefined;
  const rule: Mutable<AuthzRule> = {};
  if (o.from !== undefined) {
    const list = c.list(o.from, at(path, 'from'));
    if (list) {
      rule.from = list.flatMap((entry, i) => {
        const p = at(at(path, 'from'), i);
        const e = c.record(entry, p, ['source']);
        if (!e) return [];
        if (e.source === undefined) {
          c.fail(at(p, 'source'), 'required');
          return [];
        }
        const source = checkSource(c, e.source, at(p, 'source'));
        return source ? [{ source }] : [];
      });
    }
  }
  if (o.to !== undefined) {
    const list = c.list(o.to, at(path, 'to'));
    if (list) {
      rule.to = list.flatMap((entry, i) => {
        const p = at(at(path, 'to'), i);
        const e = c.record(entry, p, ['operation']);
        if (!e) return [];
        if (e.operation === undefined) {
          c.fail(at(p, 'operation'), 'required');
          return [];
        }
        const operation = checkOperation(c, e.operation, at(p, 'operation'));
        return operation ? [{ operation }] : [];
      });
    }
  }
  if (o.when !== undefined) {
    const list = c.list(o.when, at(path, 'when'));
    if (list) rule.when = list.flatMap((entry, i) => checkCondition(c, entry, at(at(path, 'when'), i)) ?? []);
  }
  return rule;
}

const ACTION_REASONS: Readonly<Record<string, string>> = {
  AUDIT: 'AUDIT is not supported by this mesh (it is never silently ignored): remove the policy or use ALLOW/DENY',
  CUSTOM: 'CUSTOM (external authorization) is not supported by this mesh (it is never silently ignored)',
};

export function checkAuthorizationPolicySpec(c: FieldCheck, raw: unknown): AuthorizationPolicy['spec'] {
  const spec: Mutable<AuthorizationPolicy['spec']> = {};
  const o = c.record(raw ?? {}, 'spec', ['selector', 'action', 'rules'], REFUSED_SPEC);
  if (!o) return spec;
  const selector = checkSelector(c, o.selector, 'spec.selector');
  if (selector) spec.selector = selector;
  if (o.action !== undefined) {
    const action = c.oneOf<AuthzAction>(o.action, 'spec.action', ['ALLOW', 'DENY'], ACTION_REASONS);
    if (action) spec.action = action;
  }
  if (o.rules !== undefined && o.rules !== null) {
    const list = c.list(o.rules, 'spec.rules', true);
    if (list) spec.rules = list.flatMap((r, i) => checkRule(c, r, at('spec.rules', i)) ?? []);
  }
  return spec;
}
