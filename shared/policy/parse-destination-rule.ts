// DestinationRule (networking.istio.io v1alpha3/v1beta1/v1) spec: only what decides whether a client
// originates mesh mTLS. Everything else Istio knows is refused with the reason rather than ignored: a
// user who wrote a subset or a load balancer expects it to do something.
import { at, type FieldCheck } from './field-check.js';
import { isDns1123Label } from './names.js';
import type { ClientTlsMode, DestinationRule } from './types.js';

type Spec = { -readonly [K in keyof DestinationRule['spec']]: DestinationRule['spec'][K] };
type TrafficPolicy = NonNullable<DestinationRule['spec']['trafficPolicy']>;
type PortSetting = NonNullable<TrafficPolicy['portLevelSettings']>[number];

const SHAPING = 'traffic shaping is not supported by this mesh: a DestinationRule may only set tls';
const SHAPING_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tunnel', 'proxyProtocol', 'retryBudget'];
const REFUSED_SPEC: Readonly<Record<string, string>> = {
  exportTo: 'exportTo is not supported: a DestinationRule is visible to clients in every namespace',
  subsets: 'subsets are not supported by this mesh (no traffic routing)',
  workloadSelector: 'workloadSelector is not supported: a DestinationRule applies to every client that sees it',
};
const REFUSED_TRAFFIC: Readonly<Record<string, string>> = Object.fromEntries(SHAPING_FIELDS.map((f) => [f, SHAPING]));
const ORIGINATION = 'only for SIMPLE/MUTUAL TLS, which this mesh does not originate (its client TLS is mesh mTLS or nothing)';
const REFUSED_TLS: Readonly<Record<string, string>> = Object.fromEntries(
  ['clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'subjectAltNames', 'sni', 'insecureSkipVerify', 'caCrl'].map((f) => [f, ORIGINATION]),
);
const TLS_MODE_REASONS: Readonly<Record<string, string>> = {
  SIMPLE: 'SIMPLE is not supported: the mesh originates only mesh mTLS (ISTIO_MUTUAL) or plaintext (DISABLE)',
  MUTUAL: 'MUTUAL is not supported: the mesh originates only mesh mTLS (ISTIO_MUTUAL) or plaintext (DISABLE)',
};

/** Why `host` is not a DestinationRule host, or undefined: `*`, `*.suffix`, a short name or a DNS name. */
export function destinationHostProblem(host: string): string | undefined {
  if (host === '*') return undefined;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (name.length > 253 || !name.split('.').every(isDns1123Label)) {
    return `${JSON.stringify(host)} is not a host: want a lower-case DNS name (httpbin, httpbin.foo.svc.cluster.local), *.suffix or *`;
  }
  return undefined;
}

function checkTls(c: FieldCheck, raw: unknown, path: string): { mode: ClientTlsMode } | undefined {
  const o = c.record(raw, path, ['mode'], REFUSED_TLS);
  if (!o) return undefined;
  if (o.mode === undefined) {
    // Istio's proto default is DISABLE; a tls block without a mode is almost always a mistake.
    c.fail(at(path, 'mode'), 'required: ISTIO_MUTUAL (or MESH_MUTUAL) or DISABLE');
    return undefined;
  }
  const mode = c.oneOf(o.mode, at(path, 'mode'), ['ISTIO_MUTUAL', 'MESH_MUTUAL', 'DISABLE'], TLS_MODE_REASONS);
  if (mode === undefined) return undefined;
  return { mode: mode === 'MESH_MUTUAL' ? 'ISTIO_MUTUAL' : mode };
}

function checkPortSettings(c: FieldCheck, raw: unknown, path: string): PortSetting[] | undefined {
  const list = c.list(raw, path);
  if (!list) return undefined;
  const out: PortSetting[] = [];
  const seen = new Set<number>();
  list.forEach((entry, i) => {
    const p = at(path, i);
    const o = c.record(entry, p, ['port', 'tls'], REFUSED_TRAFFIC);
    if (!o) return;
    const portPath = at(p, 'port');
    const port = c.record(o.port, portPath, ['number'], { name: 'select the port by number' });
    if (!port) return;
    const number = c.port(port.number, at(portPath, 'number'));
    if (number === undefined) return;
    if (seen.has(number)) c.fail(at(portPath, 'number'), `port ${number} is listed twice`);
    seen.add(number);
    if (o.tls === undefined) {
      out.push({ port: { number } });
      return;
    }
    const tls = checkTls(c, o.tls, at(p, 'tls'));
    if (tls) out.push({ port: { number }, tls });
  });
  return out;
}

export function checkDestinationRuleSpec(c: FieldCheck, raw: unknown): DestinationRule['spec'] {
  const o = c.record(raw ?? {}, 'spec', ['host', 'trafficPolicy'], REFUSED_SPEC);
  const spec: Spec = { host: '' };
  if (!o) return spec;
  if (o.host === undefined) c.fail('spec.host', 'required');
  else {
    const host = c.string(o.host, 'spec.host');
    if (host !== undefined) {
      const why = destinationHostProblem(host);
      if (why) c.fail('spec.host', why);
      spec.host = host;
    }
  }
  if (o.trafficPolicy !== undefined) {
    const tp = c.record(o.trafficPolicy, 'spec.trafficPolicy', ['tls', 'portLevelSettings'], REFUSED_TRAFFIC);
    if (tp) {
      const trafficPolicy: { -readonly [K in keyof TrafficPolicy]: TrafficPolicy[K] } = {};
      if (tp.tls !== undefined) {
        const tls = checkTls(c, tp.tls, 'spec.trafficPolicy.tls');
        if (tls) trafficPolicy.tls = tls;
      }
      if (tp.portLevelSettings !== undefined) {
        const settings = checkPortSettings(c, tp.portLevelSettings, 'spec.trafficPolicy.portLevelSettings');
        if (settings) trafficPolicy.portLevelSettings = settings;
      }
      spec.trafficPolicy = trafficPolicy;
    }
  }
  return spec;
}
