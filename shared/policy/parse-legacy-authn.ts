// Legacy authentication.istio.io/v1alpha1 MeshPolicy and Policy, translated to a PeerAuthentication spec
// so that YAML from older Istio tasks (the mTLS migration task) applies unchanged:
// - `peers: [{ mtls: { mode: STRICT|PERMISSIVE } }]` → that mode; `mtls: {}` or `mtls:` (null) → STRICT
//   (old Istio's default for a bare mtls peer method);
// - no `peers` (or an empty list) → DISABLE: old Istio then required no peer authentication at all;
// - Policy `targets: [{ name: SVC }]` → workload level, selecting the workloads behind those services in
//   the policy's namespace (the proxy registers the services it backs). Port-specific targets are refused.
import { at, type FieldCheck } from './field-check.js';
import { isDns1123Label } from './names.js';
import type { MtlsMode, PeerAuthentication } from './types.js';

type Spec = { -readonly [K in keyof PeerAuthentication['spec']]: PeerAuthentication['spec'][K] };

const JWT = 'JWT (end-user) authentication is not supported by this mesh';
const REFUSED_SPEC: Readonly<Record<string, string>> = {
  origins: JWT,
  originIsOptional: JWT,
  principalBinding: 'principal binding is JWT authentication, which this mesh does not support',
  peerIsOptional: 'peerIsOptional is not supported: use mode PERMISSIVE',
};

function checkPeers(c: FieldCheck, raw: unknown): MtlsMode {
  if (raw === undefined || raw === null) return 'DISABLE';
  const peers = c.list(raw, 'spec.peers', true);
  if (!peers || peers.length === 0) return 'DISABLE';
  if (peers.length > 1) c.fail('spec.peers', 'want exactly one peer method (mtls)');
  const path = at('spec.peers', 0);
  const peer = c.record(peers[0], path, ['mtls'], { jwt: JWT });
  if (!peer) return 'DISABLE';
  if (!('mtls' in peer)) {
    c.fail(path, 'want { mtls: { mode: STRICT|PERMISSIVE } }');
    return 'DISABLE';
  }
  if (peer.mtls === null) return 'STRICT';
  const mtlsPath = at(path, 'mtls');
  const mtls = c.record(peer.mtls, mtlsPath, ['mode'], { allowTls: 'allowTls is not supported: use mode PERMISSIVE' });
  if (!mtls || mtls.mode === undefined) return 'STRICT';
  return c.oneOf<MtlsMode>(mtls.mode, at(mtlsPath, 'mode'), ['STRICT', 'PERMISSIVE']) ?? 'STRICT';
}

function checkTargets(c: FieldCheck, raw: unknown): { name: string }[] {
  const list = c.list(raw, 'spec.targets');
  if (!list) return [];
  const out: { name: string }[] = [];
  const portReason = 'port-specific legacy policies are not supported: use a PeerAuthentication with a selector and portLevelMtls';
  list.forEach((t, i) => {
    const p = at('spec.targets', i);
    const o = c.record(t, p, ['name'], { ports: portReason, labels: 'target labels are not supported: use a PeerAuthentication with a selector' });
    if (!o) return;
    const name = c.string(o.name, at(p, 'name'));
    if (name === undefined) return;
    if (!isDns1123Label(name)) c.fail(at(p, 'name'), `${JSON.stringify(name)} is not a service name (DNS-1123 label)`);
    else out.push({ name });
  });
  return out;
}

export function translateLegacySpec(c: FieldCheck, raw: unknown, kind: 'MeshPolicy' | 'Policy'): PeerAuthentication['spec'] {
  const known = kind === 'Policy' ? ['peers', 'targets'] : ['peers'];
  const refused = kind === 'MeshPolicy' ? { ...REFUSED_SPEC, targets: 'a MeshPolicy applies to the whole mesh: use a Policy in the service namespace for targets' } : REFUSED_SPEC;
  const o = c.record(raw ?? {}, 'spec', known, refused);
  const spec: Spec = {};
  if (!o) return spec;
  spec.mtls = { mode: checkPeers(c, o.peers) };
  if (o.targets !== undefined) {
    const targets = checkTargets(c, o.targets);
    if (targets.length > 0) spec.targets = targets;
  }
  return spec;
}
