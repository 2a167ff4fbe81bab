// PeerAuthentication (security.istio.io v1beta1/v1) spec: selector, mtls.mode, portLevelMtls.
import { at, describe, isRecord, type FieldCheck } from './field-check.js';
import { checkSelector } from './selector.js';
import type { PeerAuthentication, StoredMtlsMode } from './types.js';

type Spec = { -readonly [K in keyof PeerAuthentication['spec']]: PeerAuthentication['spec'][K] };

export const STORED_MTLS_MODES: readonly StoredMtlsMode[] = ['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'];

export interface SpecContext {
  readonly namespace: string;
  readonly rootNamespace: string;
}

/** `{ mode }`; `{}` is UNSET (the proto default), as in Istio. */
function checkMtls(c: FieldCheck, raw: unknown, path: string): { mode: StoredMtlsMode } | undefined {
  const o = c.record(raw, path, ['mode']);
  if (!o) return undefined;
  if (o.mode === undefined) return { mode: 'UNSET' };
  const mode = c.oneOf(o.mode, at(path, 'mode'), STORED_MTLS_MODES);
  return mode === undefined ? undefined : { mode };
}

export function checkPeerAuthenticationSpec(c: FieldCheck, raw: unknown, ctx: SpecContext): PeerAuthentication['spec'] {
  const spec: Spec = {};
  const o = c.record(raw ?? {}, 'spec', ['selector', 'mtls', 'portLevelMtls']);
  if (!o) return spec;
  const selector = checkSelector(c, o.selector, 'spec.selector');
  if (selector) {
    if (ctx.namespace === ctx.rootNamespace) {
      // Istio ignores these silently; an ignored STRICT is a hole nobody sees, so say it here.
      c.fail('spec.selector', `a PeerAuthentication with a selector in the root namespace (${ctx.rootNamespace}) would apply to nothing; put it in the workload's namespace`);
    }
    spec.selector = selector;
  }
  if (o.mtls !== undefined && o.mtls !== null) {
    const mtls = checkMtls(c, o.mtls, 'spec.mtls');
    if (mtls) spec.mtls = mtls;
  }
  if (o.portLevelMtls !== undefined) {
    const path = 'spec.portLevelMtls';
    if (!selector && !(isRecord(o.portLevelMtls) && Object.keys(o.portLevelMtls).length === 0)) {
      c.fail(path, 'portLevelMtls needs a workload selector (as in Istio): mesh- and namespace-wide policies cannot set port-level modes');
    }
    const ports = o.portLevelMtls;
    if (!isRecord(ports)) {
      c.fail(path, `want a map of port → { mode }, got ${describe(ports)}`);
    } else {
      const out: Record<string, { mode: StoredMtlsMode }> = {};
      for (const [key, value] of Object.entries(ports)) {
        const p = at(path, key);
        const n = /^[1-9]\d{0,4}$/.test(key) ? Number(key) : NaN;
        if (!(n >= 1 && n <= 65535)) {
          c.fail(p, 'want a port number 1..65535 as the key');
          continue;
        }
        const mtls = checkMtls(c, value, p);
        if (mtls) out[String(n)] = mtls;
      }
      if (Object.keys(out).length > 0) spec.portLevelMtls = out;
    }
  }
  return spec;
}
