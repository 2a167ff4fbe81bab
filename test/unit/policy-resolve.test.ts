import test from 'ava';
import {
  clientTlsFor,
  parsePolicyDocuments,
  resolveWorkloadPolicy,
  validatePolicy,
  type MtlsMode,
  type PolicyObject,
  type WorkloadRef,
} from '../../shared/policy/index.js';
import { MIGRATION, OPERATIONS } from './policy-fixtures.js';

const ROOT = 'mesh-system';
const OPTS = { rootNamespace: ROOT } as const;

/** `ns/name` [`selector app=x`] `mode` [`port:mode` ...]: a PeerAuthentication, compact for tables. */
function peer(spec: string): PolicyObject {
  const [id = '', ...rest] = spec.split(' ');
  const [namespace, name] = id.split('/');
  let selector: Record<string, string> | undefined;
  let mode: string | undefined;
  const ports: Record<string, { mode: string }> = {};
  for (const part of rest) {
    if (part.startsWith('app=')) selector = { app: part.slice(4) };
    else if (part.includes(':')) {
      const [port = '', m = ''] = part.split(':');
      ports[port] = { mode: m };
    } else mode = part;
  }
  return validatePolicy(
    {
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'PeerAuthentication',
      metadata: { name, namespace },
      spec: {
        ...(selector ? { selector: { matchLabels: selector } } : {}),
        ...(mode ? { mtls: { mode } } : {}),
        ...(Object.keys(ports).length ? { portLevelMtls: ports } : {}),
      },
    },
    OPTS,
  );
}

const HTTPBIN: WorkloadRef = { namespace: 'foo', labels: { app: 'httpbin', version: 'v1' }, ports: [8000, 9090] };

// [why, policies, workload, inbound mode, port modes]
const PRECEDENCE: readonly (readonly [string, readonly string[], WorkloadRef, MtlsMode, Record<string, MtlsMode>])[] = [
  ['nothing at all: PERMISSIVE', [], HTTPBIN, 'PERMISSIVE', {}],
  ['mesh STRICT', ['mesh-system/default STRICT'], HTTPBIN, 'STRICT', {}],
  ['namespace beats mesh', ['mesh-system/default STRICT', 'foo/default PERMISSIVE'], HTTPBIN, 'PERMISSIVE', {}],
  ['namespace UNSET inherits mesh', ['mesh-system/default STRICT', 'foo/default UNSET'], HTTPBIN, 'STRICT', {}],
  ['namespace without mtls inherits mesh', ['mesh-system/default STRICT', 'foo/default'], HTTPBIN, 'STRICT', {}],
  ['workload beats namespace', ['foo/default DISABLE', 'foo/w app=httpbin STRICT'], HTTPBIN, 'STRICT', {}],
  ['workload UNSET inherits namespace', ['mesh-system/default STRICT', 'foo/default DISABLE', 'foo/w app=httpbin UNSET'], HTTPBIN, 'DISABLE', {}],
  ['workload UNSET and namespace UNSET inherit mesh', ['mesh-system/default DISABLE', 'foo/default UNSET', 'foo/w app=httpbin UNSET'], HTTPBIN, 'DISABLE', {}],
  ['a selector that does not match is not used', ['foo/default PERMISSIVE', 'foo/w app=sleep STRICT'], HTTPBIN, 'PERMISSIVE', {}],
  ['another namespace\'s policies are not used', ['bar/default STRICT', 'bar/w app=httpbin STRICT'], HTTPBIN, 'PERMISSIVE', {}],
  ['port level beats workload level', ['foo/w app=httpbin STRICT 8080:PERMISSIVE'], HTTPBIN, 'STRICT', { '8080': 'PERMISSIVE' }],
  ['port UNSET inherits the effective workload mode', ['foo/default DISABLE', 'foo/w app=httpbin UNSET 8000:UNSET 9090:STRICT'], HTTPBIN, 'DISABLE', { '8000': 'DISABLE', '9090': 'STRICT' }],
  ['port level of a losing workload policy is not used', ['foo/a app=httpbin PERMISSIVE', 'foo/b app=httpbin STRICT 8000:DISABLE'], HTTPBIN, 'PERMISSIVE', {}],
  ['several namespace-wide: first by name wins', ['foo/b-ns DISABLE', 'foo/a-ns STRICT'], HTTPBIN, 'STRICT', {}],
  ['several mesh-wide: first by name wins', ['mesh-system/zz DISABLE', 'mesh-system/aa STRICT'], HTTPBIN, 'STRICT', {}],
  ['several workload-level: first by name wins, even if UNSET', ['foo/default DISABLE', 'foo/a app=httpbin UNSET', 'foo/b app=httpbin STRICT'], HTTPBIN, 'DISABLE', {}],
  ['a workload in the root namespace: mesh level only', ['mesh-system/default STRICT'], { namespace: ROOT, labels: {}, ports: [] }, 'STRICT', {}],
];

test(`PeerAuthentication precedence table (${PRECEDENCE.length} cases)`, (t) => {
  for (const [why, specs, workload, mode, ports] of PRECEDENCE) {
    const r = resolveWorkloadPolicy(specs.map(peer), workload, OPTS);
    t.is(r.inboundMode, mode, why);
    t.deepEqual(r.portModes, ports, why);
  }
});

test('operations guide: mesh STRICT with a port-8080 PERMISSIVE exception for the legacy service only', (t) => {
  const objects = parsePolicyDocuments(OPERATIONS.peerAuthentication, OPTS);
  const legacy = resolveWorkloadPolicy(objects, { namespace: 'my-namespace', labels: { app: 'legacy-service' }, ports: [8080, 9090] }, OPTS);
  t.is(legacy.inboundMode, 'STRICT');
  t.deepEqual(legacy.portModes, { '8080': 'PERMISSIVE' });
  const other = resolveWorkloadPolicy(objects, { namespace: 'my-namespace', labels: { app: 'api-service' }, ports: [8080] }, OPTS);
  t.is(other.inboundMode, 'STRICT');
  t.deepEqual(other.portModes, {});
  const emergency = [...objects, ...parsePolicyDocuments(OPERATIONS.emergencyPermissive, OPTS)];
  // Two mesh-wide policies: `default` sorts before `emergency-permissive`, so the emergency valve only
  // works once the STRICT default is changed or deleted (Istio: the older one wins, the same outcome).
  t.is(resolveWorkloadPolicy(emergency, { namespace: 'other', labels: {}, ports: [] }, OPTS).inboundMode, 'STRICT');
});

test('migration task, option 1: the legacy Policy targets only the workloads behind service httpbin', (t) => {
  const objects = [MIGRATION.meshPermissive, MIGRATION.clientMtlsHttpbin, MIGRATION.strictHttpbin].flatMap((y) => parsePolicyDocuments(y, { ...OPTS, defaultNamespace: 'foo' }));
  const httpbin = resolveWorkloadPolicy(objects, { ...HTTPBIN, services: ['httpbin'] }, OPTS);
  t.is(httpbin.inboundMode, 'STRICT');
  const sleep = resolveWorkloadPolicy(objects, { namespace: 'foo', labels: { app: 'sleep' }, ports: [80], services: ['sleep'] }, OPTS);
  t.is(sleep.inboundMode, 'PERMISSIVE');
  const httpbinBar = resolveWorkloadPolicy(objects, { namespace: 'bar', labels: { app: 'httpbin' }, ports: [8000], services: ['httpbin'] }, OPTS);
  t.is(httpbinBar.inboundMode, 'PERMISSIVE');
  // Without its services the workload cannot be matched to a legacy target.
  t.is(resolveWorkloadPolicy(objects, HTTPBIN, OPTS).inboundMode, 'PERMISSIVE');
  // The client rule reaches every client.
  t.deepEqual(sleep.clientTls, [{ host: 'httpbin.foo.svc.cluster.local', mode: 'ISTIO_MUTUAL', source: 'foo/example-httpbin-istio-client-mtls' }]);
});

test('migration task, option 2: MeshPolicy `mtls: {}` makes every workload STRICT, PERMISSIVE again after', (t) => {
  const strict = [MIGRATION.clientMtlsMesh, MIGRATION.meshStrict].flatMap((y) => parsePolicyDocuments(y, OPTS));
  t.is(resolveWorkloadPolicy(strict, HTTPBIN, OPTS).inboundMode, 'STRICT');
  const back = [MIGRATION.clientMtlsMesh, MIGRATION.meshPermissive].flatMap((y) => parsePolicyDocuments(y, OPTS));
  t.is(resolveWorkloadPolicy(back, HTTPBIN, OPTS).inboundMode, 'PERMISSIVE');
});

// --- Authorization policies that select a workload ----------------------------------------------------

function authz(namespace: string, name: string, app?: string): PolicyObject {
  return validatePolicy(
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec: app ? { selector: { matchLabels: { app } }, rules: [{}] } : {} },
    OPTS,
  );
}

test('authorization policies selecting a workload: mesh-wide, namespace-wide, by selector; in name order', (t) => {
  const objects = [
    authz('foo', 'z-ns'),
    authz('foo', 'a-httpbin', 'httpbin'),
    authz('foo', 'sleep-only', 'sleep'),
    authz('bar', 'bar-ns'),
    authz('bar', 'bar-httpbin', 'httpbin'),
    authz(ROOT, 'mesh'),
    authz(ROOT, 'mesh-httpbin', 'httpbin'),
    authz('istio-system', 'alias'), // stored in the root namespace
  ];
  const r = resolveWorkloadPolicy(objects, HTTPBIN, OPTS);
  t.deepEqual(
    r.authorization.map((p) => p.name),
    ['foo/a-httpbin', 'foo/z-ns', 'mesh-system/alias', 'mesh-system/mesh', 'mesh-system/mesh-httpbin'],
  );
  t.deepEqual(r.authorization[1], { name: 'foo/z-ns', action: 'ALLOW', rules: [] });
  t.deepEqual(r.authorization[0]?.rules, [{}]);
});

test('the resolved policy carries only the documented keys (the proxy NACKs anything else)', (t) => {
  const objects = [...parsePolicyDocuments(OPERATIONS.peerAuthentication, OPTS), ...parsePolicyDocuments(OPERATIONS.destinationRule, OPTS), authz('foo', 'a')];
  const r = resolveWorkloadPolicy(objects, HTTPBIN, OPTS);
  t.deepEqual(Object.keys(r).sort(), ['authorization', 'clientTls', 'inboundMode', 'portModes', 'schema']);
  t.deepEqual(JSON.parse(JSON.stringify(r.clientTls)), [{ host: '*.local', mode: 'ISTIO_MUTUAL', source: 'mesh-system/default-mtls' }]);
});

// --- Client TLS --------------------------------------------------------------------------------------

function destinationRule(namespace: string, name: string, host: string, mode?: string, ports: Record<number, string> = {}): PolicyObject {
  const portLevelSettings = Object.entries(ports).map(([p, m]) => ({ port: { number: Number(p) }, tls: { mode: m } }));
  return validatePolicy(
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name, namespace },
      spec: { host, trafficPolicy: { ...(mode ? { tls: { mode } } : {}), ...(portLevelSettings.length ? { portLevelSettings } : {}) } },
    },
    OPTS,
  );
}

function tlsFor(objects: readonly PolicyObject[], clientNamespace: string, host: string, port = 8000): string | undefined {
  const rules = resolveWorkloadPolicy(objects, { namespace: clientNamespace, labels: {}, ports: [] }, OPTS).clientTls;
  return clientTlsFor(rules, host, port, clientNamespace);
}

test('clientTlsFor qualifies dialled names: httpbin.foo, the FQDN, the short name in its namespace, any case', (t) => {
  const objects = [destinationRule('foo', 'httpbin', 'httpbin.foo.svc.cluster.local', 'ISTIO_MUTUAL')];
  for (const host of ['httpbin.foo', 'httpbin.foo.svc', 'httpbin.foo.svc.cluster.local', 'HTTPBIN.Foo', 'httpbin.foo.svc.cluster.local.']) t.is(tlsFor(objects, 'bar', host), 'ISTIO_MUTUAL', host);
  t.is(tlsFor(objects, 'foo', 'httpbin'), 'ISTIO_MUTUAL');
  t.is(tlsFor(objects, 'bar', 'httpbin'), undefined, 'httpbin from bar is httpbin.bar');
  t.is(tlsFor(objects, 'bar', 'httpbin.bar'), undefined);
  t.is(tlsFor(objects, 'bar', 'httpbin.foo.example.com'), undefined);
  t.is(tlsFor(objects, 'bar', 'httpbin.foo:8000'), 'ISTIO_MUTUAL', 'a port in the name is ignored');
  t.is(tlsFor([destinationRule(ROOT, 'all', '*', 'DISABLE')], 'bar', '::1'), 'DISABLE');
  t.is(tlsFor([destinationRule(ROOT, 'local', '*.local', 'DISABLE')], 'bar', '::1'), undefined, 'an IPv6 literal is not qualified');
  t.is(tlsFor([destinationRule(ROOT, 'local', '*.local', 'DISABLE')], 'bar', '10.0.0.1'), undefined, 'nor an IPv4 one');
});

test('clientTlsFor qualifies short rule hosts with the rule\'s namespace', (t) => {
  const objects = [destinationRule('foo', 'short', 'httpbin', 'DISABLE'), destinationRule('foo', 'two', 'sleep.bar', 'ISTIO_MUTUAL')];
  t.is(tlsFor(objects, 'bar', 'httpbin.foo'), 'DISABLE');
  t.is(tlsFor(objects, 'bar', 'httpbin'), undefined);
  t.is(tlsFor(objects, 'foo', 'sleep.bar.svc.cluster.local'), 'ISTIO_MUTUAL');
});

test('clientTlsFor: exact beats wildcard, the longest wildcard suffix beats a shorter one', (t) => {
  const objects = [
    destinationRule(ROOT, 'all', '*', 'DISABLE'),
    destinationRule(ROOT, 'local', '*.local', 'ISTIO_MUTUAL'),
    destinationRule(ROOT, 'foo-ns', '*.foo.svc.cluster.local', 'DISABLE'),
    destinationRule(ROOT, 'exact', 'legacy.foo.svc.cluster.local', 'ISTIO_MUTUAL'),
  ];
  t.is(tlsFor(objects, 'bar', 'httpbin.bar'), 'ISTIO_MUTUAL', '*.local');
  t.is(tlsFor(objects, 'bar', 'httpbin.foo'), 'DISABLE', '*.foo.svc.cluster.local');
  t.is(tlsFor(objects, 'bar', 'legacy.foo'), 'ISTIO_MUTUAL', 'exact');
  t.is(tlsFor(objects, 'bar', 'example.com.'), 'DISABLE', 'an absolute name is not qualified; only * matches');
});

test('clientTlsFor: Istio lookup path: client namespace > destination namespace > root; other namespaces are not on it', (t) => {
  const host = 'httpbin.foo.svc.cluster.local';
  const rootRule = destinationRule(ROOT, 'r', host, 'ISTIO_MUTUAL');
  const otherRule = destinationRule('aaa', 'o', host, 'DISABLE');
  const destRule = destinationRule('foo', 'd', host, 'DISABLE');
  const clientRule = destinationRule('bar', 'c', host, 'ISTIO_MUTUAL');
  t.is(tlsFor([otherRule, rootRule], 'bar', 'httpbin.foo'), 'ISTIO_MUTUAL', 'root beats another namespace');
  t.is(tlsFor([otherRule], 'bar', 'httpbin.foo'), undefined, 'a rule in a third namespace is not on the lookup path');
  t.is(tlsFor([rootRule, destRule], 'bar', 'httpbin.foo'), 'DISABLE', 'destination namespace beats root');
  t.is(tlsFor([rootRule, destRule, clientRule], 'bar', 'httpbin.foo'), 'ISTIO_MUTUAL', 'client namespace beats all');
  t.is(tlsFor([destinationRule(ROOT, 'exact', host, 'ISTIO_MUTUAL'), destinationRule('bar', 'wild', '*.local', 'DISABLE')], 'bar', 'httpbin.foo'), 'ISTIO_MUTUAL', 'a more specific host beats the namespace order');
});

test('clientTlsFor: port-level settings beat the rule level; a rule silent on a port does not hide a wider one', (t) => {
  const objects = [
    destinationRule('foo', 'httpbin', 'httpbin.foo.svc.cluster.local', 'ISTIO_MUTUAL', { 9000: 'DISABLE' }),
    destinationRule('foo', 'sleep', 'sleep.foo.svc.cluster.local', undefined, { 9000: 'DISABLE' }),
    destinationRule(ROOT, 'mesh', '*.local', 'ISTIO_MUTUAL', { 7000: 'DISABLE' }),
  ];
  t.is(tlsFor(objects, 'bar', 'httpbin.foo', 9000), 'DISABLE');
  t.is(tlsFor(objects, 'bar', 'httpbin.foo', 8000), 'ISTIO_MUTUAL');
  t.is(tlsFor(objects, 'bar', 'httpbin.foo', 7000), 'ISTIO_MUTUAL', 'the exact rule wins over the mesh port setting');
  t.is(tlsFor(objects, 'bar', 'sleep.foo', 9000), 'DISABLE');
  t.is(tlsFor(objects, 'bar', 'sleep.foo', 8000), 'ISTIO_MUTUAL', 'falls through to *.local');
  t.is(tlsFor(objects, 'bar', 'other.foo', 7000), 'DISABLE');
});

test('clientTlsFor: no rule → undefined (auto mTLS)', (t) => {
  t.is(clientTlsFor([], 'httpbin.foo', 8000, 'bar'), undefined);
});
