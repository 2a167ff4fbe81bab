import { HEADER_KEY, ipBlockProblem, portTextProblem } from '../../../shared/policy/parse-authorization-policy.js';
import { pathPatternProblem, stringPatternProblem } from '../../../shared/policy/string-match.js';
import {
  RESOLVED_POLICY_SCHEMA,
  type AuthzAction,
  type AuthzCondition,
  type AuthzOperation,
  type AuthzRule,
  type AuthzSource,
  type ClientTlsMode,
  type MtlsMode,
  type ResolvedAuthzPolicy,
  type ResolvedClientTls,
  type ResolvedWorkloadPolicy,
} from '../../../shared/policy/types.js';
import { PolicyUnsupportedError } from './errors.js';

// Strict on purpose: the proxy enforces exactly what it understood or NACKs the whole version. Every key is
// checked against the list below; fields the proxy could not evaluate never get dropped on the floor.

const ROOT_KEYS = ['schema', 'inboundMode', 'portModes', 'clientTls', 'authorization'] as const;
const CLIENT_TLS_KEYS = ['host', 'port', 'mode', 'source'] as const;
const AUTHZ_KEYS = ['name', 'action', 'rules'] as const;
const RULE_KEYS = ['from', 'to', 'when'] as const;
const FROM_KEYS = ['source'] as const;
const TO_KEYS = ['operation'] as const;
const SOURCE_KEYS = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks'] as const;
const OPERATION_KEYS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const CONDITION_KEYS = ['key', 'values', 'notValues'] as const;

const MTLS_MODES: readonly MtlsMode[] = ['STRICT', 'PERMISSIVE', 'DISABLE'];
const AUTHZ_ACTIONS: readonly AuthzAction[] = ['ALLOW', 'DENY'];

/** Istio fields this mesh deliberately does not evaluate: named so that the NACK says why. */
const NOT_SUPPORTED: Readonly<Record<string, string>> = {
  requestPrincipals: 'JWT request principals are not supported by this mesh',
  notRequestPrincipals: 'JWT request principals are not supported by this mesh',
  remoteIpBlocks: 'remoteIpBlocks (X-Forwarded-For) is not supported by this mesh',
  notRemoteIpBlocks: 'notRemoteIpBlocks (X-Forwarded-For) is not supported by this mesh',
  provider: 'CUSTOM authorization providers are not supported by this mesh',
};

const SIMPLE_CONDITION_KEYS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.port', 'connection.sni']);

/** Why one value of a list is refused, or undefined: the control plane's own checks, so both agree. */
type ValueCheck = (s: string) => string | undefined;

function methodProblem(s: string): string | undefined {
  return stringPatternProblem(s) ?? (/[a-z]/.test(s) ? 'HTTP methods are case-sensitive and upper case (GET, not get)' : undefined);
}

function fail(field: string, detail: string): never {
  throw new PolicyUnsupportedError(field, detail);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function at(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** A plain object whose every key is known. */
function record(v: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  if (!isRecord(v)) fail(path || '$', `want an object, got ${describe(v)}`);
  for (const key of Object.keys(v)) {
    if (known.includes(key)) continue;
    fail(at(path, key), NOT_SUPPORTED[key] ?? 'unknown field');
  }
  return v;
}

function array(v: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(v)) fail(path, `want an array, got ${describe(v)}`);
  return v;
}

function string(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(path, `want a non-empty string, got ${describe(v)}`);
  return v;
}

function port(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) fail(path, `want a port 1..65535, got ${describe(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === v);
  if (found === undefined) fail(path, `want one of ${allowed.join('|')}, got ${describe(v)}`);
  return found;
}

function values(v: unknown, path: string, check: ValueCheck): readonly string[] {
  const list = array(v, path);
  return Object.freeze(
    list.map((item, i) => {
      const p = `${path}[${i}]`;
      if (typeof item !== 'string') fail(p, `want a string, got ${describe(item)}`);
      const why = check(item);
      if (why !== undefined) fail(p, `${why} (got ${JSON.stringify(item)})`);
      return item;
    }),
  );
}

/** Copies the listed string-list fields that are present; refuses an object that sets none (it would match anything). */
function lists<K extends string>(o: Record<string, unknown>, path: string, keys: readonly K[], checkOf: (k: K) => ValueCheck): Partial<Record<K, readonly string[]>> {
  const out: Partial<Record<K, readonly string[]>> = {};
  for (const k of keys) {
    if (o[k] !== undefined) out[k] = values(o[k], at(path, k), checkOf(k));
  }
  if (Object.keys(out).length === 0) fail(path, 'sets no field: it would match everything');
  return Object.freeze(out);
}

function source(v: unknown, path: string): AuthzSource {
  const o = record(v, path, SOURCE_KEYS);
  return lists(o, path, SOURCE_KEYS, (k) => (k === 'ipBlocks' || k === 'notIpBlocks' ? ipBlockProblem : stringPatternProblem));
}

function operation(v: unknown, path: string): AuthzOperation {
  const o = record(v, path, OPERATION_KEYS);
  return lists(o, path, OPERATION_KEYS, (k) => {
    if (k === 'ports' || k === 'notPorts') return portTextProblem;
    if (k === 'paths' || k === 'notPaths') return pathPatternProblem;
    if (k === 'methods' || k === 'notMethods') return methodProblem;
    return stringPatternProblem;
  });
}

function condition(v: unknown, path: string): AuthzCondition {
  const o = record(v, path, CONDITION_KEYS);
  const key = string(o.key, at(path, 'key'));
  if (!SIMPLE_CONDITION_KEYS.has(key) && !HEADER_KEY.test(key)) {
    fail(at(path, 'key'), `condition key ${JSON.stringify(key)} cannot be evaluated by this proxy (supported: ${[...SIMPLE_CONDITION_KEYS].join(', ')}, request.headers[NAME])`);
  }
  const check = key === 'source.ip' ? ipBlockProblem : key === 'destination.port' ? portTextProblem : stringPatternProblem;
  const l = lists(o, path, ['values', 'notValues'] as const, () => check);
  return Object.freeze({ key, ...l });
}

function rule(v: unknown, path: string): AuthzRule {
  const o = record(v, path, RULE_KEYS);
  const out: { from?: AuthzRule['from']; to?: AuthzRule['to']; when?: AuthzRule['when'] } = {};
  if (o.from !== undefined) {
    const p = at(path, 'from');
    out.from = Object.freeze(
      array(o.from, p).map((f, i) => {
        const fp = `${p}[${i}]`;
        const fo = record(f, fp, FROM_KEYS);
        if (fo.source === undefined) fail(at(fp, 'source'), 'is required');
        return Object.freeze({ source: source(fo.source, at(fp, 'source')) });
      }),
    );
  }
  if (o.to !== undefined) {
    const p = at(path, 'to');
    out.to = Object.freeze(
      array(o.to, p).map((t, i) => {
        const tp = `${p}[${i}]`;
        const to = record(t, tp, TO_KEYS);
        if (to.operation === undefined) fail(at(tp, 'operation'), 'is required');
        return Object.freeze({ operation: operation(to.operation, at(tp, 'operation')) });
      }),
    );
  }
  if (o.when !== undefined) {
    const p = at(path, 'when');
    out.when = Object.freeze(array(o.when, p).map((c, i) => condition(c, `${p}[${i}]`)));
  }
  return Object.freeze(out);
}

function authzPolicy(v: unknown, path: string): ResolvedAuthzPolicy {
  const o = record(v, path, AUTHZ_KEYS);
  const name = string(o.name, at(path, 'name'));
  if (o.action === 'AUDIT' || o.action === 'CUSTOM') fail(at(path, 'action'), `action ${o.action} is not supported by this mesh`);
  const action = oneOf(o.action, at(path, 'action'), AUTHZ_ACTIONS);
  const rp = at(path, 'rules');
  const rules = Object.freeze(array(o.rules, rp).map((r, i) => rule(r, `${rp}[${i}]`)));
  return Object.freeze({ name, action, rules });
}

function clientTls(v: unknown, path: string): ResolvedClientTls {
  const o = record(v, path, CLIENT_TLS_KEYS);
  const host = string(o.host, at(path, 'host'));
  // MESH_MUTUAL is this mesh's alias of ISTIO_MUTUAL: the same instruction under another name, not a new one.
  const raw = o.mode === 'MESH_MUTUAL' ? 'ISTIO_MUTUAL' : o.mode;
  const mode = oneOf<ClientTlsMode>(raw, at(path, 'mode'), ['ISTIO_MUTUAL', 'DISABLE']);
  const src = string(o.source, at(path, 'source'));
  const out: { host: string; port?: number; mode: ClientTlsMode; source: string } = { host, mode, source: src };
  if (o.port !== undefined) out.port = port(o.port, at(path, 'port'));
  return Object.freeze(out);
}

function required(o: Record<string, unknown>, key: string, path: string): unknown {
  if (o[key] === undefined) fail(at(path, key), 'is required');
  return o[key];
}

/** Validates an already-decoded policy document (see parseResolvedPolicy). */
export function validateResolvedPolicy(raw: unknown): ResolvedWorkloadPolicy {
  if (!isRecord(raw)) fail('$', `want an object, got ${describe(raw)}`);
  // The schema first: a newer shape is refused as a whole, whatever else it carries.
  if (raw.schema !== RESOLVED_POLICY_SCHEMA) fail('schema', `this proxy understands schema ${RESOLVED_POLICY_SCHEMA}, got ${describe(raw.schema)}`);
  const o = record(raw, '', ROOT_KEYS);
  const inboundMode = oneOf(required(o, 'inboundMode', ''), 'inboundMode', MTLS_MODES);
  const pm = required(o, 'portModes', '');
  if (!isRecord(pm)) fail('portModes', `want an object, got ${describe(pm)}`);
  const portModes: Record<string, MtlsMode> = {};
  for (const [k, v] of Object.entries(pm)) {
    // Canonical digits only: connections look their port up as String(port).
    if (portTextProblem(k) !== undefined || String(Number(k)) !== k) fail(`portModes.${k}`, 'want a port 1..65535 as the key');
    portModes[k] = oneOf(v, `portModes.${k}`, MTLS_MODES);
  }
  const clientTlsList = array(required(o, 'clientTls', ''), 'clientTls').map((c, i) => clientTls(c, `clientTls[${i}]`));
  const authorization = array(required(o, 'authorization', ''), 'authorization').map((a, i) => authzPolicy(a, `authorization[${i}]`));
  return Object.freeze({
    schema: RESOLVED_POLICY_SCHEMA,
    inboundMode,
    portModes: Object.freeze(portModes),
    clientTls: Object.freeze(clientTlsList),
    authorization: Object.freeze(authorization),
  });
}

/**
 * Parses what the control plane sent on the policy stream. Throws PolicyUnsupportedError
 * (MESH_ERR_POLICY_UNSUPPORTED) naming the first field it does not understand: the caller NACKs the version
 * with that message and keeps the policy it had.
 */
export function parseResolvedPolicy(json: string): ResolvedWorkloadPolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    fail('$', `not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return validateResolvedPolicy(raw);
}
