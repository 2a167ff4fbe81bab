// What applies to one workload, computed by the control plane and sent to that workload's proxy.
//
// PeerAuthentication, as Istio (pilot ComposePeerAuthentication):
//   workload level (selector — or legacy Policy targets — in the workload's namespace)
//   > namespace level (no selector, the workload's namespace)
//   > mesh level (no selector, the root namespace) > PERMISSIVE.
//   UNSET (or no mtls) inherits the level below; port-level modes of the winning workload policy beat
//   its workload-level mode, and a port-level UNSET inherits the workload's effective mode. Several
//   policies at one level: Istio takes the oldest; here (no creation time) the first by name.
//   Selector policies in the root namespace are refused at parse time (Istio ignores them).
// DestinationRule: every rule in every namespace is visible (exportTo is not supported, and Istio's
//   default is export-to-all); `clientTlsFor` picks the one for a destination.
// AuthorizationPolicy: root namespace without selector → every workload; root namespace with selector →
//   matching workloads in every namespace (as Istio); other namespaces → that namespace's workloads,
//   all of them without selector, the matching ones with one.
import { selectorMatches } from './selector.js';
import {
  RESOLVED_POLICY_SCHEMA,
  type AuthorizationPolicy,
  type ClientTlsMode,
  type DestinationRule,
  type MtlsMode,
  type PeerAuthentication,
  type PolicyObject,
  type ResolvedAuthzPolicy,
  type ResolvedClientTls,
  type ResolvedWorkloadPolicy,
  type StoredMtlsMode,
} from './types.js';

export interface WorkloadRef {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Ports the workload serves; informative (port-level modes are sent for every port a policy names). */
  readonly ports: readonly number[];
  /**
   * Short names of the services (in its namespace) that the workload backs, as the proxy registered them.
   * Only legacy `Policy` objects with `targets` use it: without it, those never select the workload.
   */
  readonly services?: readonly string[];
}

export interface ResolveOptions {
  readonly rootNamespace: string;
}

export const DEFAULT_INBOUND_MODE: MtlsMode = 'PERMISSIVE';
const CLUSTER_SUFFIX = 'svc.cluster.local';

const byName = <T extends { metadata: { namespace: string; name: string } }>(a: T, b: T): number => {
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

const isSet = (mode: StoredMtlsMode | undefined): mode is MtlsMode => mode !== undefined && mode !== 'UNSET';

function isWorkloadLevel(pa: PeerAuthentication): boolean {
  return pa.spec.selector !== undefined || (pa.spec.targets?.length ?? 0) > 0;
}

function selectsWorkload(pa: PeerAuthentication, w: WorkloadRef): boolean {
  if (pa.spec.selector && selectorMatches(pa.spec.selector, w.labels)) return true;
  const targets = pa.spec.targets ?? [];
  return targets.some((t) => w.services?.includes(t.name) ?? false);
}

function resolveInbound(pas: readonly PeerAuthentication[], w: WorkloadRef, rootNamespace: string): Pick<ResolvedWorkloadPolicy, 'inboundMode' | 'portModes'> {
  const sorted = [...pas].sort(byName);
  const mesh = sorted.find((p) => p.metadata.namespace === rootNamespace && !isWorkloadLevel(p));
  const namespace = w.namespace === rootNamespace ? undefined : sorted.find((p) => p.metadata.namespace === w.namespace && !isWorkloadLevel(p));
  const workload = sorted.find((p) => p.metadata.namespace === w.namespace && w.namespace !== rootNamespace && isWorkloadLevel(p) && selectsWorkload(p, w));

  let mode: MtlsMode = DEFAULT_INBOUND_MODE;
  for (const level of [mesh, namespace, workload]) {
    const m = level?.spec.mtls?.mode;
    if (isSet(m)) mode = m;
  }
  const portModes: Record<string, MtlsMode> = {};
  for (const [port, setting] of Object.entries(workload?.spec.portLevelMtls ?? {})) {
    portModes[port] = isSet(setting.mode) ? setting.mode : mode;
  }
  return { inboundMode: mode, portModes };
}

/**
 * `httpbin` (in namespace ns) → `httpbin.ns.svc.cluster.local`; `httpbin.foo` → `httpbin.foo.svc.cluster.local`;
 * `httpbin.foo.svc` → `….cluster.local`; anything longer, `*…`, IP addresses and absolute names (trailing
 * dot, which is dropped) are taken as they are. Lower case. The two-label rule is Kubernetes' DNS search path, so it
 * has the same ambiguity: `example.com` reads as service `example` in namespace `com`.
 */
export function qualifyHost(host: string, namespace: string): string {
  // A port is not part of the name (`httpbin.foo:8000`); IPv6 literals are taken as they are.
  const h = host.toLowerCase().replace(/^([^:]+):\d+$/, '$1');
  if (h.endsWith('.')) return h.slice(0, -1);
  if (h.startsWith('*') || h.includes(':') || h.startsWith('[')) return h;
  const labels = h.split('.');
  if (labels.length === 1) return `${h}.${namespace}.${CLUSTER_SUFFIX}`;
  if (labels.length === 2) return `${h}.${CLUSTER_SUFFIX}`;
  if (labels.length === 3 && labels[2] === 'svc') return `${h}.cluster.local`;
  return h;
}

function namespaceOf(source: string): string {
  return source.slice(0, source.indexOf('/'));
}

function clientTlsEntries(drs: readonly DestinationRule[], clientNamespace: string, rootNamespace: string): ResolvedClientTls[] {
  const rank = (ns: string): number => (ns === clientNamespace ? 0 : ns === rootNamespace ? 1 : 2);
  // Istio's lookup path: the client's namespace, the service's namespace, the root namespace. A rule in
  // a third namespace can only be on that path as the service's namespace, i.e. for hosts in it.
  const onPath = (dr: DestinationRule): boolean => {
    const ns = dr.metadata.namespace;
    return ns === clientNamespace || ns === rootNamespace || qualifyHost(dr.spec.host, ns).endsWith(`.${ns}.${CLUSTER_SUFFIX}`);
  };
  const sorted = drs.filter(onPath).sort((a, b) => rank(a.metadata.namespace) - rank(b.metadata.namespace) || byName(a, b));
  const out: ResolvedClientTls[] = [];
  for (const dr of sorted) {
    const host = qualifyHost(dr.spec.host, dr.metadata.namespace);
    const source = `${dr.metadata.namespace}/${dr.metadata.name}`;
    for (const s of dr.spec.trafficPolicy?.portLevelSettings ?? []) {
      if (s.tls) out.push({ host, port: s.port.number, mode: s.tls.mode, source });
    }
    const tls = dr.spec.trafficPolicy?.tls;
    if (tls) out.push({ host, mode: tls.mode, source });
  }
  return out;
}

function authzFor(aps: readonly AuthorizationPolicy[], w: WorkloadRef, rootNamespace: string): ResolvedAuthzPolicy[] {
  return aps
    .filter((ap) => {
      const ns = ap.metadata.namespace;
      if (ns !== rootNamespace && ns !== w.namespace) return false;
      return selectorMatches(ap.spec.selector, w.labels);
    })
    .sort(byName)
    .map((ap) => ({ name: `${ap.metadata.namespace}/${ap.metadata.name}`, action: ap.spec.action ?? 'ALLOW', rules: ap.spec.rules ?? [] }));
}

export function resolveWorkloadPolicy(objects: readonly PolicyObject[], workload: WorkloadRef, opts: ResolveOptions): ResolvedWorkloadPolicy {
  const pas: PeerAuthentication[] = [];
  const drs: DestinationRule[] = [];
  const aps: AuthorizationPolicy[] = [];
  for (const o of objects) {
    if (o.kind === 'PeerAuthentication') pas.push(o);
    else if (o.kind === 'DestinationRule') drs.push(o);
    else aps.push(o);
  }
  return {
    schema: RESOLVED_POLICY_SCHEMA,
    ...resolveInbound(pas, workload, opts.rootNamespace),
    clientTls: clientTlsEntries(drs, workload.namespace, opts.rootNamespace),
    authorization: authzFor(aps, workload, opts.rootNamespace),
  };
}

/** 0 for no match, else higher is more specific: exact beats any wildcard, a longer suffix beats a shorter. */
function hostSpecificity(ruleHost: string, host: string): number {
  if (ruleHost === host) return Number.MAX_SAFE_INTEGER;
  if (ruleHost === '*') return 1;
  if (ruleHost.startsWith('*.') && host.endsWith(ruleHost.slice(1))) return 1 + ruleHost.length;
  return 0;
}

/**
 * The client TLS mode for a connection to `host:port` from a workload in `clientNamespace`; undefined
 * when no rule says (the proxy then uses auto mTLS). `host` as dialled: `httpbin`, `httpbin.foo`,
 * `httpbin.foo.svc.cluster.local` (qualified as `qualifyHost`). Choice, in order: the most specific host
 * (exact > longest `*.suffix` > `*`), then a rule in the client's namespace, then one in the
 * destination's namespace, then the order of `rules` (resolveWorkloadPolicy puts the root namespace
 * before other namespaces, each by name). Within the chosen rule a port-level setting beats the
 * rule-level one; a rule with no TLS setting for this port does not hide a less specific rule.
 * (Istio looks up by namespace first and host second; here a more specific host always wins.)
 */
export function clientTlsFor(rules: readonly ResolvedClientTls[], host: string, port: number, clientNamespace: string): ClientTlsMode | undefined {
  const target = qualifyHost(host, clientNamespace);
  const labels = target.split('.');
  const destinationNamespace = target.endsWith(`.${CLUSTER_SUFFIX}`) && labels.length === 5 ? labels[1] : undefined;
  const nsRank = (source: string): number => {
    const ns = namespaceOf(source);
    return ns === clientNamespace ? 0 : ns === destinationNamespace ? 1 : 2;
  };
  const candidates = rules
    .map((r, i) => ({ r, i, specificity: hostSpecificity(r.host, target) }))
    .filter((c) => c.specificity > 0 && (c.r.port === undefined || c.r.port === port));
  candidates.sort((a, b) => b.specificity - a.specificity || nsRank(a.r.source) - nsRank(b.r.source) || a.i - b.i);
  return candidates[0]?.r.mode;
}
