import { matchString } from '../../shared/policy/index.js';
import { selectorMatches } from '../../shared/policy/selector.js';
import type { AuthorizationPolicy, PolicyObject } from '../../shared/policy/types.js';
import type { Registration } from '../registry/index.js';
import { tlsCheck } from './tls-check.js';

export type Severity = 'error' | 'warning';

export interface Finding {
  readonly severity: Severity;
  readonly code: 'tls-conflict' | 'selector-matches-nothing' | 'unknown-principal' | 'allow-shadowed' | 'certificate-expiring';
  readonly object: string;
  readonly message: string;
}

export interface CertToWatch {
  readonly level: 'workload' | 'issuing' | 'intermediate' | 'root';
  readonly name: string;
  readonly serialHex: string;
  readonly notAfterMs: number;
}

/** Warning windows per level, as the alert rules (manifests/prometheus-rules.yaml): [warning, critical]. */
export const EXPIRY_WINDOWS_MS: Readonly<Record<CertToWatch['level'], readonly [number, number]>> = {
  workload: [4 * 3_600_000, 3_600_000],
  issuing: [30 * 86_400_000, 7 * 86_400_000],
  intermediate: [180 * 86_400_000, 30 * 86_400_000],
  root: [730 * 86_400_000, 180 * 86_400_000],
};

const id = (o: PolicyObject): string => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;

/** Static checks of stored policies against the registry and the certificates in use. */
export function analyze(objects: readonly PolicyObject[], regs: readonly Registration[], certs: readonly CertToWatch[], rootNamespace: string, nowMs: number): Finding[] {
  const out: Finding[] = [];

  for (const r of regs) {
    for (const port of tlsCheck(objects, r, regs, rootNamespace).ports) {
      for (const c of port.callers.filter((x) => x.result === 'CONFLICT')) {
        out.push({ severity: 'error', code: 'tls-conflict', object: `${r.namespace}/${r.workloadId}:${port.port}`, message: `${c.namespace}/${c.workload} → ${r.namespace}/${r.workloadId} port ${port.port}: ${c.detail}` });
      }
    }
  }

  for (const o of objects) {
    if (o.kind === 'DestinationRule' || !o.spec.selector) continue;
    const selector = o.spec.selector;
    const inScope = regs.filter((r) => o.metadata.namespace === rootNamespace || r.namespace === o.metadata.namespace);
    if (!inScope.some((r) => selectorMatches(selector, r.labels))) {
      const labels = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(',');
      out.push({ severity: 'warning', code: 'selector-matches-nothing', object: id(o), message: `selector ${labels} matches no registered workload${o.metadata.namespace === rootNamespace ? '' : ` in namespace ${o.metadata.namespace}`}` });
    }
  }

  const known = [...new Set(regs.map((r) => r.spiffeId.replace(/^spiffe:\/\//, '')))];
  for (const o of objects) {
    if (o.kind !== 'AuthorizationPolicy') continue;
    for (const rule of o.spec.rules ?? []) {
      for (const from of rule.from ?? []) {
        for (const p of [...(from.source.principals ?? []), ...(from.source.notPrincipals ?? [])]) {
          const bare = p.replace(/^spiffe:\/\//, '');
          if (bare !== '*' && !known.some((k) => matchString(bare, k))) {
            out.push({ severity: 'warning', code: 'unknown-principal', object: id(o), message: `principal ${p} matches no registered workload identity (typo, or a workload not deployed yet?)` });
          }
        }
      }
    }
  }

  // A DENY that matches every request of the workloads it selects makes any ALLOW on them dead.
  const aps = objects.filter((o): o is AuthorizationPolicy => o.kind === 'AuthorizationPolicy');
  const denyAll = aps.filter((o) => o.spec.action === 'DENY' && (o.spec.rules ?? []).some((r) => !r.from && !r.to && !r.when));
  for (const allow of aps.filter((o) => (o.spec.action ?? 'ALLOW') === 'ALLOW' && (o.spec.rules?.length ?? 0) > 0)) {
    const shadow = denyAll.find((d) => appliesToAll(d, allow, regs, rootNamespace));
    if (shadow) out.push({ severity: 'warning', code: 'allow-shadowed', object: id(allow), message: `shadowed by ${id(shadow)}, a DENY that matches every request: no rule of this ALLOW can take effect` });
  }

  for (const c of certs) {
    const [warn, crit] = EXPIRY_WINDOWS_MS[c.level];
    const left = c.notAfterMs - nowMs;
    if (left <= warn) {
      out.push({
        severity: left <= crit ? 'error' : 'warning',
        code: 'certificate-expiring',
        object: `${c.level} ${c.name} (serial ${c.serialHex})`,
        message: left <= 0 ? `expired at ${new Date(c.notAfterMs).toISOString()}` : `expires at ${new Date(c.notAfterMs).toISOString()}, within the ${c.level} ${left <= crit ? 'critical' : 'warning'} window`,
      });
    }
  }
  return out;
}

/** Does `deny` apply to every registered workload that `allow` applies to (and to at least one)? */
function appliesToAll(deny: AuthorizationPolicy, allow: AuthorizationPolicy, regs: readonly Registration[], rootNamespace: string): boolean {
  const applies = (p: AuthorizationPolicy, r: Registration): boolean =>
    (p.metadata.namespace === rootNamespace || p.metadata.namespace === r.namespace) && selectorMatches(p.spec.selector, r.labels);
  const targets = regs.filter((r) => applies(allow, r));
  return targets.length > 0 && targets.every((r) => applies(deny, r));
}
