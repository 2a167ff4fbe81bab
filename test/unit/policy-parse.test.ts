import test from 'ava';
import { parse as parseYaml } from 'yaml';
import { PolicyInvalidError, parsePolicyDocuments, validatePolicy, type PolicyObject } from '../../shared/policy/index.js';
import { MIGRATION, OPERATIONS } from './policy-fixtures.js';

const OPTS = { rootNamespace: 'mesh-system' } as const;

/** The formatted problems, or a test failure when the input was accepted. */
function problems(input: string | object, opts: { rootNamespace: string; defaultNamespace?: string } = OPTS): string[] {
  try {
    if (typeof input === 'string') parsePolicyDocuments(input, opts);
    else validatePolicy(input, opts);
  } catch (e) {
    if (e instanceof PolicyInvalidError) {
      return e.problems.map((p) => (p.path === '' ? `${p.object}: ${p.reason}` : `${p.object}: ${p.path}: ${p.reason}`));
    }
    throw e;
  }
  return [];
}

function one(yaml: string, opts: { rootNamespace: string; defaultNamespace?: string } = OPTS): PolicyObject {
  const objects = parsePolicyDocuments(yaml, opts);
  if (objects.length !== 1 || !objects[0]) throw new Error(`want one object, got ${objects.length}`);
  return objects[0];
}

const ap = (spec: unknown, name = 'bar', namespace = 'foo') => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace },
  spec,
});
const pa = (spec: unknown, namespace = 'foo') => ({ apiVersion: 'security.istio.io/v1beta1', kind: 'PeerAuthentication', metadata: { name: 'p', namespace }, spec });
const dr = (spec: unknown) => ({ apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: { name: 'd', namespace: 'foo' }, spec });

// --- The reference YAML parses unchanged -------------------------------------------------------------

test('migration task: MeshPolicy PERMISSIVE becomes a mesh-wide PeerAuthentication in the root namespace', (t) => {
  const o = one(MIGRATION.meshPermissive);
  t.like(o, { kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'mesh-system' }, spec: { mtls: { mode: 'PERMISSIVE' } } });
  t.is(o.metadata.annotations?.['mtls-mesh.io/translated-from'], 'authentication.istio.io/v1alpha1/MeshPolicy');
  t.false('selector' in o.spec);
});

test('migration task: MeshPolicy with `mtls: {}` means STRICT (old Istio default)', (t) => {
  t.like(one(MIGRATION.meshStrict), { kind: 'PeerAuthentication', metadata: { namespace: 'mesh-system' }, spec: { mtls: { mode: 'STRICT' } } });
  t.like(one(MIGRATION.meshStrict.replace('- mtls: {}', '- mtls:')), { spec: { mtls: { mode: 'STRICT' } } });
});

test('migration task: the client DestinationRule takes the namespace of `apply -n` or else `default`', (t) => {
  const inFoo = one(MIGRATION.clientMtlsHttpbin, { ...OPTS, defaultNamespace: 'foo' });
  t.deepEqual(inFoo, {
    kind: 'DestinationRule',
    metadata: { name: 'example-httpbin-istio-client-mtls', namespace: 'foo' },
    spec: { host: 'httpbin.foo.svc.cluster.local', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } },
  });
  t.is(one(MIGRATION.clientMtlsHttpbin).metadata.namespace, 'default');
});

test('migration task: Policy with targets becomes a workload-level PeerAuthentication for that service', (t) => {
  const o = one(MIGRATION.strictHttpbin);
  t.like(o, { kind: 'PeerAuthentication', metadata: { name: 'example-httpbin-strict', namespace: 'foo' }, spec: { mtls: { mode: 'STRICT' } } });
  t.deepEqual(o.kind === 'PeerAuthentication' ? o.spec.targets : undefined, [{ name: 'httpbin' }]);
});

test('migration task: the mesh-wide DestinationRule in istio-system is stored in the root namespace', (t) => {
  t.like(one(MIGRATION.clientMtlsMesh), { metadata: { name: 'default', namespace: 'mesh-system' }, spec: { host: '*.local' } });
  t.like(one(MIGRATION.clientMtlsMesh, { rootNamespace: 'corp-mesh' }), { metadata: { namespace: 'corp-mesh' } });
  t.like(one(MIGRATION.clientMtlsMesh, { rootNamespace: 'istio-system' }), { metadata: { namespace: 'istio-system' } });
});

test('operations guide: both PeerAuthentications, with portLevelMtls keyed by port', (t) => {
  const [mesh, exception, ...rest] = parsePolicyDocuments(OPERATIONS.peerAuthentication, OPTS);
  t.is(rest.length, 0);
  t.deepEqual(mesh, { kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'mesh-system' }, spec: { mtls: { mode: 'STRICT' } } });
  t.deepEqual(exception, {
    kind: 'PeerAuthentication',
    metadata: { name: 'legacy-service-exception', namespace: 'my-namespace' },
    spec: { selector: { matchLabels: { app: 'legacy-service' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { '8080': { mode: 'PERMISSIVE' } } },
  });
});

test('operations guide: DestinationRule, deny-all, allow policies and the emergency PERMISSIVE', (t) => {
  t.like(one(OPERATIONS.destinationRule), { kind: 'DestinationRule', metadata: { namespace: 'mesh-system' }, spec: { host: '*.local', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } } });
  t.deepEqual(one(OPERATIONS.denyAll), { kind: 'AuthorizationPolicy', metadata: { name: 'deny-all', namespace: 'my-namespace' }, spec: {} });
  const [frontend, monitoring] = parsePolicyDocuments(OPERATIONS.allows, OPTS);
  t.deepEqual(frontend?.spec, {
    selector: { matchLabels: { app: 'api-service' } },
    action: 'ALLOW',
    rules: [{ from: [{ source: { principals: ['cluster.local/ns/frontend/sa/frontend-service'] } }], to: [{ operation: { methods: ['GET', 'POST'], paths: ['/api/*'] } }] }],
  });
  t.deepEqual(monitoring?.spec, {
    selector: { matchLabels: { app: 'api-service' } },
    action: 'ALLOW',
    rules: [{ from: [{ source: { namespaces: ['monitoring'] } }], to: [{ operation: { paths: ['/metrics', '/health'] } }] }],
  });
  t.like(one(OPERATIONS.emergencyPermissive), { metadata: { name: 'emergency-permissive', namespace: 'mesh-system' }, spec: { mtls: { mode: 'PERMISSIVE' } } });
});

test('reference documents concatenated parse in one call', (t) => {
  const { meshStrict: _strict, ...migration } = MIGRATION;
  const { peerAuthentication: _meshDefault, ...operations } = OPERATIONS; // same object as the MeshPolicy
  const all = [...Object.values(migration), ...Object.values(operations)].join('---\n');
  t.is(parsePolicyDocuments(all, { ...OPTS, defaultNamespace: 'foo' }).length, 9);
});

test('the same objects arrive as JSON through validatePolicy', (t) => {
  for (const y of [...Object.values(MIGRATION), OPERATIONS.denyAll, OPERATIONS.destinationRule]) {
    t.deepEqual(validatePolicy(parseYaml(y), OPTS), one(y));
  }
});

test('stored objects are frozen', (t) => {
  const o = one(OPERATIONS.peerAuthentication.split('---')[1] ?? '');
  t.true(Object.isFrozen(o));
  t.true(Object.isFrozen(o.spec));
  t.true(Object.isFrozen(o.kind === 'PeerAuthentication' ? o.spec.portLevelMtls : undefined));
});

// --- Refusals, each with its path --------------------------------------------------------------------

test('an unknown field deep inside is refused with its full path', (t) => {
  t.deepEqual(problems(ap({ rules: [{ to: [{ operation: { pathz: ['/admin'] } }] }] })), [
    'AuthorizationPolicy foo/bar: spec.rules[0].to[0].operation.pathz: unknown field',
  ]);
});

test('every problem of every document is reported at once, and nothing is returned', (t) => {
  const yaml = [
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a, namespace: foo}\nspec: {action: AUDIT}\n',
    'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: b, namespace: foo}\nspec: {mtls: {mode: STRICTER}, extra: 1}\n',
  ].join('---\n');
  const err = t.throws(() => parsePolicyDocuments(yaml, OPTS), { instanceOf: PolicyInvalidError });
  t.is(err?.code, 'MESH_ERR_POLICY_INVALID');
  t.deepEqual(
    err?.problems.map((p) => [p.document, p.object, p.path]),
    [
      [1, 'AuthorizationPolicy foo/a', 'spec.action'],
      [2, 'PeerAuthentication foo/b', 'spec.extra'],
      [2, 'PeerAuthentication foo/b', 'spec.mtls.mode'],
    ],
  );
  t.regex(err?.message ?? '', /spec\.mtls\.mode: want one of STRICT\|PERMISSIVE\|DISABLE\|UNSET, got "STRICTER"/);
});

const REFUSALS: readonly (readonly [string, object, string])[] = [
  // AuthorizationPolicy
  ['AUDIT is never ignored', ap({ action: 'AUDIT' }), 'spec.action: AUDIT is not supported'],
  ['CUSTOM is never ignored', ap({ action: 'CUSTOM', provider: { name: 'x' } }), 'spec.action: CUSTOM'],
  ['provider', ap({ action: 'CUSTOM', provider: { name: 'x' } }), 'spec.provider: CUSTOM authorization providers'],
  ['lower-case action', ap({ action: 'allow' }), 'spec.action: want one of ALLOW|DENY'],
  ['JWT principals', ap({ rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }), 'spec.rules[0].from[0].source.requestPrincipals: JWT'],
  ['notRequestPrincipals', ap({ rules: [{ from: [{ source: { notRequestPrincipals: ['*'] } }] }] }), 'spec.rules[0].from[0].source.notRequestPrincipals: JWT'],
  ['remoteIpBlocks', ap({ rules: [{ from: [{ source: { remoteIpBlocks: ['10.0.0.0/8'] } }] }] }), 'source.remoteIpBlocks: remote IP blocks'],
  ['JWT claim condition', ap({ rules: [{ when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] }] }), 'spec.rules[0].when[0].key: request.auth.claims[iss]: JWT'],
  ['unknown condition key', ap({ rules: [{ when: [{ key: 'destination.ip', values: ['10.0.0.1'] }] }] }), 'spec.rules[0].when[0].key: unsupported condition key "destination.ip"'],
  ['condition without values', ap({ rules: [{ when: [{ key: 'source.ip' }] }] }), 'spec.rules[0].when[0]: want values or notValues'],
  ['condition with a bad IP', ap({ rules: [{ when: [{ key: 'source.ip', values: ['10.0.0.256'] }] }] }), 'spec.rules[0].when[0].values[0]: want an IPv4/IPv6'],
  ['condition with a bad port', ap({ rules: [{ when: [{ key: 'destination.port', notValues: ['0'] }] }] }), 'spec.rules[0].when[0].notValues[0]: want a port'],
  ['bad header name', ap({ rules: [{ when: [{ key: 'request.headers[a b]', values: ['x'] }] }] }), 'spec.rules[0].when[0].key: unsupported condition key'],
  ['path template', ap({ rules: [{ to: [{ operation: { paths: ['/a/{*}'] } }] }] }), 'spec.rules[0].to[0].operation.paths[0]: '],
  ['star in the middle of a path', ap({ rules: [{ to: [{ operation: { notPaths: ['/a/*/b'] } }] }] }), 'spec.rules[0].to[0].operation.notPaths[0]: a * may only be'],
  ['relative path', ap({ rules: [{ to: [{ operation: { paths: ['admin'] } }] }] }), 'operation.paths[0]: a path must start with /'],
  ['unnormalised path', ap({ rules: [{ to: [{ operation: { paths: ['/api/../admin'] } }] }] }), 'operation.paths[0]: never matches'],
  ['port as a number', ap({ rules: [{ to: [{ operation: { ports: [8080] } }] }] }), 'operation.ports[0]: want a string, got number 8080 (quote it)'],
  ['port out of range', ap({ rules: [{ to: [{ operation: { ports: ['65536'] } }] }] }), 'operation.ports[0]: want a port number 1..65535'],
  ['port not numeric', ap({ rules: [{ to: [{ operation: { notPorts: ['http'] } }] }] }), 'operation.notPorts[0]: want a port number'],
  ['lower-case method', ap({ rules: [{ to: [{ operation: { methods: ['get'] } }] }] }), 'operation.methods[0]: HTTP methods are case-sensitive'],
  ['bad CIDR prefix', ap({ rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }] }), 'source.ipBlocks[0]: want an IPv4/IPv6'],
  ['bad IPv6', ap({ rules: [{ from: [{ source: { notIpBlocks: ['2001:db8:::1'] } }] }] }), 'source.notIpBlocks[0]: want an IPv4/IPv6'],
  ['star inside a principal', ap({ rules: [{ from: [{ source: { principals: ['cluster.local/ns/*/sa/x'] } }] }] }), 'source.principals[0]: a * may only be'],
  ['empty list', ap({ rules: [{ from: [{ source: { principals: [] } }] }] }), 'source.principals: empty list'],
  ['empty string', ap({ rules: [{ from: [{ source: { namespaces: [''] } }] }] }), 'source.namespaces[0]: empty string'],
  ['empty source', ap({ rules: [{ from: [{ source: {} }] }] }), 'spec.rules[0].from[0].source: empty source'],
  ['empty from list', ap({ rules: [{ from: [] }] }), 'spec.rules[0].from: empty list'],
  ['null rule', ap({ rules: [null] }), 'spec.rules[0]: want an object, got null'],
  ['from without source', ap({ rules: [{ from: [{}] }] }), 'spec.rules[0].from[0].source: required'],
  ['targetRef', ap({ targetRef: { kind: 'Gateway', name: 'x' } }), 'spec.targetRef: targetRef'],
  ['selector value with a wildcard', ap({ selector: { matchLabels: { app: 'web*' } } }), 'spec.selector.matchLabels.app: "web*" is not a label value'],
  ['selector value not a string', ap({ selector: { matchLabels: { version: 1 } } }), 'spec.selector.matchLabels.version: want a string, got number (quote it)'],
  ['selector key', ap({ selector: { matchLabels: { 'bad key': 'x' } } }), 'spec.selector.matchLabels["bad key"]: key "bad key" is not a label key'],
  ['matchExpressions', ap({ selector: { matchExpressions: [] } }), 'spec.selector.matchExpressions: not supported'],
  // PeerAuthentication
  ['bad mode', pa({ mtls: { mode: 'strict' } }), 'spec.mtls.mode: want one of STRICT|PERMISSIVE|DISABLE|UNSET, got "strict"'],
  ['portLevelMtls without selector', pa({ mtls: { mode: 'STRICT' }, portLevelMtls: { 8080: { mode: 'DISABLE' } } }), 'spec.portLevelMtls: portLevelMtls needs a workload selector'],
  ['portLevelMtls with an empty selector', pa({ selector: {}, portLevelMtls: { 8080: { mode: 'DISABLE' } } }), 'spec.portLevelMtls: portLevelMtls needs a workload selector'],
  ['portLevelMtls bad port', pa({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { http: { mode: 'DISABLE' } } }), 'spec.portLevelMtls.http: want a port number'],
  ['portLevelMtls port 0', pa({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { 0: { mode: 'DISABLE' } } }), 'spec.portLevelMtls["0"]: want a port number'],
  ['portLevelMtls bad mode', pa({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { 8080: { mode: 'OFF' } } }), 'spec.portLevelMtls["8080"].mode: want one of'],
  ['selector policy in the root namespace', pa({ selector: { matchLabels: { app: 'a' } }, mtls: { mode: 'STRICT' } }, 'istio-system'), 'spec.selector: a PeerAuthentication with a selector in the root namespace'],
  // DestinationRule
  ['SIMPLE', dr({ host: 'a', trafficPolicy: { tls: { mode: 'SIMPLE' } } }), 'spec.trafficPolicy.tls.mode: SIMPLE is not supported: the mesh originates only mesh mTLS'],
  ['MUTUAL', dr({ host: 'a', trafficPolicy: { tls: { mode: 'MUTUAL' } } }), 'spec.trafficPolicy.tls.mode: MUTUAL is not supported'],
  ['tls without mode', dr({ host: 'a', trafficPolicy: { tls: {} } }), 'spec.trafficPolicy.tls.mode: required'],
  ['tls sni', dr({ host: 'a', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL', sni: 'x' } } }), 'spec.trafficPolicy.tls.sni: only for SIMPLE/MUTUAL'],
  ['subsets', dr({ host: 'a', subsets: [{ name: 'v1' }] }), 'spec.subsets: subsets are not supported'],
  ['exportTo', dr({ host: 'a', exportTo: ['.'] }), 'spec.exportTo: exportTo is not supported'],
  ['workloadSelector', dr({ host: 'a', workloadSelector: { matchLabels: { a: 'b' } } }), 'spec.workloadSelector: workloadSelector is not supported'],
  ['loadBalancer', dr({ host: 'a', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } }), 'spec.trafficPolicy.loadBalancer: traffic shaping is not supported'],
  ['port by name', dr({ host: 'a', trafficPolicy: { portLevelSettings: [{ port: { name: 'http' } }] } }), 'spec.trafficPolicy.portLevelSettings[0].port.name: select the port by number'],
  ['port-level shaping', dr({ host: 'a', trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, connectionPool: {} }] } }), 'portLevelSettings[0].connectionPool: traffic shaping'],
  ['duplicate port', dr({ host: 'a', trafficPolicy: { portLevelSettings: [{ port: { number: 80 } }, { port: { number: 80 } }] } }), 'portLevelSettings[1].port.number: port 80 is listed twice'],
  ['missing host', dr({ trafficPolicy: { tls: { mode: 'DISABLE' } } }), 'spec.host: required'],
  ['bad host', dr({ host: '*foo.com' }), 'spec.host: "*foo.com" is not a host'],
  ['upper-case host', dr({ host: 'HTTPBIN.foo' }), 'spec.host: "HTTPBIN.foo" is not a host'],
  // Object envelope
  ['wrong apiVersion for the kind', { ...pa({}), apiVersion: 'networking.istio.io/v1alpha3' }, 'apiVersion: want security.istio.io/v1beta1 or security.istio.io/v1 for PeerAuthentication'],
  ['unknown kind', { ...pa({}), kind: 'Gateway' }, 'kind: want one of PeerAuthentication'],
  ['missing name', { ...pa({}), metadata: { namespace: 'foo' } }, 'metadata.name: required'],
  ['bad name', { ...pa({}), metadata: { name: 'Foo_Bar', namespace: 'foo' } }, 'metadata.name: "Foo_Bar" is not a DNS-1123 name'],
  ['bad namespace', { ...pa({}), metadata: { name: 'p', namespace: 'Foo' } }, 'metadata.namespace: "Foo" is not a namespace'],
  ['server-set metadata', { ...pa({}), metadata: { name: 'p', namespace: 'foo', resourceVersion: '1' } }, 'metadata.resourceVersion: set by the API server'],
  ['status', { ...pa({}), status: {} }, ': status: status is set by the system'],
  // Legacy
  ['port-specific Policy targets', { apiVersion: 'authentication.istio.io/v1alpha1', kind: 'Policy', metadata: { name: 'x', namespace: 'foo' }, spec: { targets: [{ name: 'httpbin', ports: [{ number: 8000 }] }], peers: [{ mtls: {} }] } }, 'spec.targets[0].ports: port-specific legacy policies are not supported'],
  ['Policy origins (JWT)', { apiVersion: 'authentication.istio.io/v1alpha1', kind: 'Policy', metadata: { name: 'x', namespace: 'foo' }, spec: { origins: [] } }, 'spec.origins: JWT'],
  ['Policy bad legacy mode', { apiVersion: 'authentication.istio.io/v1alpha1', kind: 'Policy', metadata: { name: 'x', namespace: 'foo' }, spec: { peers: [{ mtls: { mode: 'DISABLE' } }] } }, 'spec.peers[0].mtls.mode: want one of STRICT|PERMISSIVE'],
  ['MeshPolicy targets', { apiVersion: 'authentication.istio.io/v1alpha1', kind: 'MeshPolicy', metadata: { name: 'default' }, spec: { targets: [{ name: 'a' }] } }, 'spec.targets: a MeshPolicy applies to the whole mesh'],
  ['MeshPolicy with a v1beta1 apiVersion', { apiVersion: 'security.istio.io/v1beta1', kind: 'MeshPolicy', metadata: { name: 'default' }, spec: {} }, 'apiVersion: want authentication.istio.io/v1alpha1 for MeshPolicy'],
];

test(`refusals name the field (${REFUSALS.length} cases)`, (t) => {
  for (const [why, input, want] of REFUSALS) {
    const got = problems(input);
    t.true(got.some((p) => p.includes(want)), `${why}: want a problem containing ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
});

test('accepted variants: MESH_MUTUAL alias, empty selector is no selector, v1 and v1alpha3 versions, rules: [{}]', (t) => {
  const d = validatePolicy(dr({ host: 'httpbin', trafficPolicy: { tls: { mode: 'MESH_MUTUAL' }, portLevelSettings: [{ port: { number: 9000 }, tls: { mode: 'DISABLE' } }] } }), OPTS);
  t.deepEqual(d.spec, { host: 'httpbin', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' }, portLevelSettings: [{ port: { number: 9000 }, tls: { mode: 'DISABLE' } }] } });
  t.deepEqual(validatePolicy(pa({ selector: { matchLabels: {} }, mtls: {} }), OPTS).spec, { mtls: { mode: 'UNSET' } });
  t.deepEqual(validatePolicy(ap({ rules: [{}] }), OPTS).spec, { rules: [{}] });
  t.deepEqual(validatePolicy(ap(null), OPTS).spec, {});
  const allFields = ap({
    action: 'DENY',
    rules: [
      {
        from: [{ source: { principals: ['cluster.local/ns/a.b/sa/[x]'], notPrincipals: ['*'], namespaces: ['a*'], notNamespaces: ['*b'], ipBlocks: ['10.0.0.0/8', '2001:db8::/32', '::ffff:10.1.2.3'], notIpBlocks: ['10.1.0.0/16'] } }],
        to: [{ operation: { hosts: ['httpbin.foo', '*.bar'], notHosts: ['x:8000'], ports: ['8000'], notPorts: ['9000'], methods: ['GET'], notMethods: ['DELETE'], paths: ['/api/*', '*/info', '/exact'], notPaths: ['*'] } }],
        when: [
          { key: 'source.ip', values: ['10.0.0.1'] },
          { key: 'source.namespace', notValues: ['legacy'] },
          { key: 'source.principal', values: ['*'] },
          { key: 'destination.port', values: ['8000'] },
          { key: 'request.headers[X-Api-Version]', values: ['v1*'], notValues: ['v1beta'] },
          { key: 'connection.sni', values: ['*.foo.svc.cluster.local'] },
        ],
      },
    ],
  });
  t.deepEqual(validatePolicy(allFields, OPTS).spec, allFields.spec);
  for (const v of ['v1beta1', 'v1']) t.notThrows(() => validatePolicy({ ...ap({}), apiVersion: `security.istio.io/${v}` }, OPTS));
  for (const v of ['v1alpha3', 'v1beta1', 'v1']) t.notThrows(() => validatePolicy({ ...dr({ host: 'a' }), apiVersion: `networking.istio.io/${v}` }, OPTS));
});

test('a MeshPolicy is cluster-scoped: a namespace on it (kubectl apply -n) is ignored', (t) => {
  const o = validatePolicy({ apiVersion: 'authentication.istio.io/v1alpha1', kind: 'MeshPolicy', metadata: { name: 'default', namespace: 'foo' }, spec: { peers: [{ mtls: {} }] } }, OPTS);
  t.is(o.metadata.namespace, 'mesh-system');
});

test('legacy Policy without targets is namespace-wide; without peers it is DISABLE', (t) => {
  const nsWide = validatePolicy({ apiVersion: 'authentication.istio.io/v1alpha1', kind: 'Policy', metadata: { name: 'default', namespace: 'foo' }, spec: { peers: [{ mtls: { mode: 'PERMISSIVE' } }] } }, OPTS);
  t.deepEqual(nsWide.spec, { mtls: { mode: 'PERMISSIVE' } });
  const noPeers = validatePolicy({ apiVersion: 'authentication.istio.io/v1alpha1', kind: 'Policy', metadata: { name: 'default', namespace: 'foo' }, spec: {} }, OPTS);
  t.deepEqual(noPeers.spec, { mtls: { mode: 'DISABLE' } });
});

test('YAML-level problems: syntax, non-objects, duplicates; empty documents are skipped', (t) => {
  t.true(problems('kind: [unclosed\n').some((p) => p.startsWith('document 1: YAML syntax')));
  t.deepEqual(problems('- a\n- b\n'), ['document 1: want a policy object (apiVersion, kind, metadata, spec), got a list']);
  const twice = `${OPERATIONS.denyAll}---\n${OPERATIONS.denyAll}`;
  t.deepEqual(problems(twice), ['AuthorizationPolicy my-namespace/deny-all: the same object as document 1']);
  t.is(parsePolicyDocuments(`---\n# nothing\n---\n${OPERATIONS.denyAll}---\n`, OPTS).length, 1);
  t.deepEqual(parsePolicyDocuments('', OPTS), []);
  t.true(problems('a: &a [1]\nb: *a\n').length > 0);
});

test('a MeshPolicy and a PeerAuthentication for the same root object in one file are duplicates', (t) => {
  const yaml = `${MIGRATION.meshStrict}---\n${OPERATIONS.peerAuthentication.split('---')[0] ?? ''}`;
  t.deepEqual(problems(yaml), ['PeerAuthentication mesh-system/default: the same object as document 1']);
});
