import test from 'ava';
import {
  evaluate,
  parsePolicyDocuments,
  resolveWorkloadPolicy,
  validatePolicy,
  type AuthzDecision,
  type AuthzRequest,
  type ResolvedAuthzPolicy,
} from '../../shared/policy/index.js';
import { OPERATIONS } from './policy-fixtures.js';

const OPTS = { rootNamespace: 'mesh-system' } as const;

/** A policy as the proxy gets it, after passing the same validation as `meshctl apply`. */
function policy(name: string, spec: object): ResolvedAuthzPolicy {
  const o = validatePolicy({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'foo' }, spec }, OPTS);
  if (o.kind !== 'AuthorizationPolicy') throw new Error('not an AuthorizationPolicy');
  return { name: `foo/${name}`, action: o.spec.action ?? 'ALLOW', rules: o.spec.rules ?? [] };
}

const FOO_SLEEP = 'spiffe://cluster.local/ns/foo/sa/sleep';

function http(path: string, more: Partial<AuthzRequest> & { method?: string; host?: string; headers?: Record<string, string | string[]> } = {}): AuthzRequest {
  const { method = 'GET', host = 'httpbin.foo:8000', headers = {}, ...rest } = more;
  return {
    sourcePrincipal: FOO_SLEEP,
    sourceNamespace: 'foo',
    sourceIp: '10.1.2.3',
    destinationPort: 8000,
    http: { method, path, host, headers },
    ...rest,
  };
}
function tcp(more: Partial<AuthzRequest> = {}): AuthzRequest {
  return { sourcePrincipal: FOO_SLEEP, sourceNamespace: 'foo', sourceIp: '10.1.2.3', destinationPort: 9000, ...more };
}
const plaintext = { sourcePrincipal: undefined, sourceNamespace: undefined } as const;

const allowed = (d: AuthzDecision): boolean => d.allowed;

const ALLOW_ALL = policy('allow-all', { rules: [{}] });

test('no policy: allow; an empty ALLOW policy (deny-all) denies everything; rules: [{}] allows everything', (t) => {
  t.deepEqual(evaluate([], http('/x')), { allowed: true });
  t.deepEqual(evaluate([], tcp()), { allowed: true });
  const denyAll = policy('deny-all', {});
  t.deepEqual(evaluate([denyAll], http('/x')), { allowed: false, reason: 'no-allow-matched' });
  t.deepEqual(evaluate([denyAll], tcp()), { allowed: false, reason: 'no-allow-matched' });
  t.deepEqual(evaluate([ALLOW_ALL], http('/x', plaintext)), { allowed: true, policy: 'foo/allow-all' });
  t.deepEqual(evaluate([denyAll, ALLOW_ALL], tcp()), { allowed: true, policy: 'foo/allow-all' });
});

test('DENY is evaluated before ALLOW; a DENY without rules matches nothing', (t) => {
  const deny = policy('deny-admin', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] });
  t.deepEqual(evaluate([ALLOW_ALL, deny], http('/admin')), { allowed: false, policy: 'foo/deny-admin', reason: 'deny-matched' });
  t.deepEqual(evaluate([ALLOW_ALL, deny], http('/admin/users')), { allowed: false, policy: 'foo/deny-admin', reason: 'deny-matched' });
  t.true(evaluate([ALLOW_ALL, deny], http('/public')).allowed);
  t.true(evaluate([deny], http('/public')).allowed, 'only DENY policies: allow what none matches');
  t.true(evaluate([policy('empty-deny', { action: 'DENY' })], http('/admin')).allowed);
});

test('operations guide: deny-all + allow-frontend-to-api + allow-monitoring on the api-service', (t) => {
  const objects = [...parsePolicyDocuments(OPERATIONS.denyAll, OPTS), ...parsePolicyDocuments(OPERATIONS.allows, OPTS)];
  const { authorization } = resolveWorkloadPolicy(objects, { namespace: 'my-namespace', labels: { app: 'api-service' }, ports: [8080] }, OPTS);
  t.is(authorization.length, 3);
  const frontend = { sourcePrincipal: 'spiffe://cluster.local/ns/frontend/sa/frontend-service', sourceNamespace: 'frontend' };
  const monitoring = { sourcePrincipal: 'spiffe://cluster.local/ns/monitoring/sa/prometheus', sourceNamespace: 'monitoring' };
  const cases: readonly (readonly [string, AuthzRequest, boolean])[] = [
    ['frontend GET /api/users', http('/api/users', frontend), true],
    ['frontend POST /api/orders', http('/api/orders', { ...frontend, method: 'POST' }), true],
    ['frontend DELETE /api/orders', http('/api/orders', { ...frontend, method: 'DELETE' }), false],
    ['frontend GET /api (no slash)', http('/api', frontend), false],
    ['frontend GET /metrics', http('/metrics', frontend), false],
    ['frontend GET /api/../metrics', http('/api/../metrics', frontend), false],
    ['monitoring GET /metrics', http('/metrics', monitoring), true],
    ['monitoring GET /health?full=1', http('/health?full=1', monitoring), true],
    ['monitoring GET /api/users', http('/api/users', monitoring), false],
    ['plaintext GET /api/users', http('/api/users', plaintext), false],
    ['plaintext GET /metrics', http('/metrics', plaintext), false],
    ['another workload of the same SA name elsewhere', http('/api/x', { sourcePrincipal: 'spiffe://cluster.local/ns/frontend2/sa/frontend-service', sourceNamespace: 'frontend2' }), false],
  ];
  for (const [why, req, want] of cases) t.is(allowed(evaluate(authorization, req)), want, why);
  t.deepEqual(evaluate(authorization, http('/metrics', monitoring)), { allowed: true, policy: 'my-namespace/allow-monitoring' });
  // The same on the other workloads of the namespace: only deny-all selects them.
  const other = resolveWorkloadPolicy(objects, { namespace: 'my-namespace', labels: { app: 'db' }, ports: [] }, OPTS).authorization;
  t.false(evaluate(other, http('/api/users', frontend)).allowed);
});

test('principals: plaintext never matches principals (not even *), mTLS does', (t) => {
  const anyPeer = policy('mtls-only', { rules: [{ from: [{ source: { principals: ['*'] } }] }] });
  t.true(evaluate([anyPeer], http('/x')).allowed);
  t.deepEqual(evaluate([anyPeer], http('/x', plaintext)), { allowed: false, reason: 'no-allow-matched' });
  const ns = policy('ns', { rules: [{ from: [{ source: { namespaces: ['*'] } }] }] });
  t.false(evaluate([ns], tcp(plaintext)).allowed);
});

test('notNamespaces/notPrincipals: absent identity is "not in the list", so a DENY denies plaintext (ISTIO-SECURITY-2021-004)', (t) => {
  const denyOutsiders = policy('deny-outsiders', { action: 'DENY', rules: [{ from: [{ source: { notNamespaces: ['foo'] } }] }] });
  t.true(evaluate([denyOutsiders], http('/x')).allowed, 'foo is in the list');
  t.false(evaluate([denyOutsiders], http('/x', { sourcePrincipal: 'spiffe://cluster.local/ns/bar/sa/sleep', sourceNamespace: 'bar' })).allowed);
  t.deepEqual(evaluate([denyOutsiders], http('/x', plaintext)), { allowed: false, policy: 'foo/deny-outsiders', reason: 'deny-matched' });
  t.false(evaluate([denyOutsiders], tcp(plaintext)).allowed);
  const denyNotSleep = policy('deny-not-sleep', { action: 'DENY', rules: [{ from: [{ source: { notPrincipals: ['cluster.local/ns/foo/sa/sleep'] } }] }] });
  t.true(evaluate([denyNotSleep], http('/x')).allowed);
  t.false(evaluate([denyNotSleep], http('/x', plaintext)).allowed);
  const when = policy('deny-when', { action: 'DENY', rules: [{ when: [{ key: 'source.namespace', notValues: ['foo'] }] }] });
  t.false(evaluate([when], tcp(plaintext)).allowed);
  t.true(evaluate([when], tcp()).allowed);
});

test('principals and namespaces are literal: `.` and `[` are never patterns; spiffe:// may be spelled', (t) => {
  const dotted = policy('dotted', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/a.b/sa/x'] } }] }] });
  t.true(evaluate([dotted], tcp({ sourcePrincipal: 'spiffe://cluster.local/ns/a.b/sa/x' })).allowed);
  t.false(evaluate([dotted], tcp({ sourcePrincipal: 'spiffe://cluster.local/ns/aXb/sa/x' })).allowed);
  t.false(evaluate([dotted], tcp({ sourcePrincipal: 'spiffe://clusterXlocal/ns/a.b/sa/x' })).allowed);
  const bracket = policy('bracket', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/foo/sa/[ab]'] } }] }] });
  t.false(evaluate([bracket], tcp({ sourcePrincipal: 'spiffe://cluster.local/ns/foo/sa/a' })).allowed);
  t.true(evaluate([bracket], tcp({ sourcePrincipal: 'spiffe://cluster.local/ns/foo/sa/[ab]' })).allowed);
  const ns = policy('ns', { rules: [{ from: [{ source: { namespaces: ['a.b'] } }] }] });
  t.false(evaluate([ns], tcp({ sourceNamespace: 'aXb', sourcePrincipal: 'spiffe://cluster.local/ns/aXb/sa/x' })).allowed);
  t.true(evaluate([ns], tcp({ sourceNamespace: 'a.b', sourcePrincipal: 'spiffe://cluster.local/ns/a.b/sa/x' })).allowed);
  const full = policy('full', { rules: [{ from: [{ source: { principals: ['spiffe://cluster.local/ns/foo/sa/sleep'] } }] }] });
  t.true(evaluate([full], tcp()).allowed);
  const prefix = policy('prefix', { rules: [{ from: [{ source: { principals: ['cluster.local/ns/foo/*'] } }] }] });
  t.true(evaluate([prefix], tcp()).allowed);
  t.false(evaluate([prefix], tcp({ sourcePrincipal: 'spiffe://cluster.local/ns/foobar/sa/sleep' })).allowed);
  // The namespace comes from the principal when the caller did not give it.
  const fooNs = policy('foo-ns', { rules: [{ from: [{ source: { namespaces: ['foo'] } }] }] });
  t.true(evaluate([fooNs], tcp({ sourceNamespace: undefined })).allowed);
});

// Requests that must not get through `DENY /admin` (+ allow everything else): [why, path, denied, reason]
const BYPASSES: readonly (readonly [string, string, boolean, string?])[] = [
  ['plain', '/admin', true],
  ['double slash', '//admin', true],
  ['encoded slash (CVE-2021-31920)', '/%2Fadmin', true, 'bad-path'],
  ['encoded backslash (CVE-2021-31920)', '/%5Cadmin', true, 'bad-path'],
  ['raw backslash', '/\\admin', true, 'bad-path'],
  ['fragment (CVE-2021-39156)', '/admin#x', true],
  ['query', '/admin?x=1', true],
  ['matrix parameter (istio/istio#27409)', '/admin;x=1', true],
  ['Tomcat ..;', '/public/..;/admin', true],
  ['dot-dot', '/api/../admin', true],
  ['encoded dot-dot', '/api/%2e%2e/admin', true],
  ['encoded letter', '/%61dmin', true],
  ['dot segment', '/./admin', true],
  ['trailing slash (the rule lists /admin/*)', '/admin/', true],
  ['climbing above /', '/../admin', true, 'bad-path'],
  // Documented: paths are case-sensitive. An app that routes /ADMIN to /admin needs its own rule.
  ['upper case (documented: case-sensitive)', '/ADMIN', false],
  ['another path', '/public', false],
];

test(`path bypasses against DENY /admin (${BYPASSES.length} cases)`, (t) => {
  const deny = policy('deny-admin', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] });
  for (const [why, path, denied, reason] of BYPASSES) {
    const d = evaluate([deny, ALLOW_ALL], http(path));
    t.is(d.allowed, !denied, why);
    if (reason && !d.allowed) t.is(String(d.reason), reason, why);
  }
});

test('a path that cannot be normalised is refused (bad-path) even without any policy', (t) => {
  t.deepEqual(evaluate([], http('/%2Fadmin')), { allowed: false, reason: 'bad-path' });
  t.deepEqual(evaluate([ALLOW_ALL], http('/a%zz')), { allowed: false, reason: 'bad-path' });
});

test('hosts: case-insensitive, with or without port, trailing dot (CVE-2021-39155)', (t) => {
  const deny = policy('deny-host', { action: 'DENY', rules: [{ to: [{ operation: { hosts: ['httpbin.foo'] } }] }] });
  for (const host of ['httpbin.foo', 'Httpbin.Foo', 'HTTPBIN.FOO:8000', 'httpbin.foo.', 'httpbin.foo.:8000']) t.false(evaluate([deny, ALLOW_ALL], http('/x', { host })).allowed, host);
  for (const host of ['httpbin.bar', 'httpbin.foo.evil', 'xhttpbin.foo']) t.true(evaluate([deny, ALLOW_ALL], http('/x', { host })).allowed, host);
  const upperRule = policy('upper-rule', { action: 'DENY', rules: [{ to: [{ operation: { hosts: ['HTTPBIN.Foo'] } }] }] });
  t.false(evaluate([upperRule], http('/x', { host: 'httpbin.foo:8000' })).allowed, 'the rule side is case-insensitive too');
  const withPort = policy('with-port', { rules: [{ to: [{ operation: { hosts: ['httpbin.foo:8000', '*.bar'] } }] }] });
  t.true(evaluate([withPort], http('/x', { host: 'HTTPBIN.foo:8000' })).allowed);
  t.false(evaluate([withPort], http('/x', { host: 'httpbin.foo:9000' })).allowed);
  t.false(evaluate([withPort], http('/x', { host: 'httpbin.foo' })).allowed);
  t.true(evaluate([withPort], http('/x', { host: 'httpbin.BAR:1234' })).allowed);
  const notHosts = policy('not-hosts', { action: 'DENY', rules: [{ to: [{ operation: { notHosts: ['httpbin.foo'] } }] }] });
  t.true(evaluate([notHosts], http('/x', { host: 'HTTPBIN.foo' })).allowed);
  t.false(evaluate([notHosts], http('/x', { host: 'other' })).allowed);
  t.false(evaluate([notHosts], http('/x', { host: '' })).allowed, 'no Host is not httpbin.foo');
});

test('methods are case-sensitive (documented, as Istio)', (t) => {
  const getOnly = policy('get-only', { rules: [{ to: [{ operation: { methods: ['GET', 'HEAD'] } }] }] });
  t.true(evaluate([getOnly], http('/x')).allowed);
  t.false(evaluate([getOnly], http('/x', { method: 'get' })).allowed);
  t.false(evaluate([getOnly], http('/x', { method: 'POST' })).allowed);
  const notDelete = policy('no-delete', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] });
  t.true(evaluate([notDelete], http('/x', { method: 'Delete' })).allowed, 'documented: Delete is not DELETE');
});

test('L7 fields on TCP: an ALLOW rule does not match; a DENY rule ignores them and denies (fail closed)', (t) => {
  const allowGet = policy('allow-get', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] });
  t.deepEqual(evaluate([allowGet], tcp()), { allowed: false, reason: 'no-allow-matched' });
  const denyLegacyAdmin = policy('deny-legacy-admin', { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['legacy'] } }], to: [{ operation: { paths: ['/admin'] } }] }] });
  t.false(evaluate([denyLegacyAdmin], tcp({ sourceNamespace: 'legacy', sourcePrincipal: 'spiffe://cluster.local/ns/legacy/sa/x' })).allowed);
  t.true(evaluate([denyLegacyAdmin], tcp()).allowed, 'the non-L7 part still has to match');
  const denyPortPaths = policy('deny-port', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['9001'], paths: ['/x'] } }] }] });
  t.true(evaluate([denyPortPaths], tcp()).allowed, 'port 9000 is not 9001');
  t.false(evaluate([denyPortPaths], tcp({ destinationPort: 9001 })).allowed);
  const headerAllow = policy('header-allow', { rules: [{ when: [{ key: 'request.headers[x-token]', values: ['ok'] }] }] });
  t.false(evaluate([headerAllow], tcp()).allowed);
  const headerDeny = policy('header-deny', { action: 'DENY', rules: [{ when: [{ key: 'request.headers[x-token]', notValues: ['ok'] }] }] });
  t.false(evaluate([headerDeny], tcp()).allowed);
});

test('an unknown condition key (not produced by parse) fails closed both ways', (t) => {
  const rule = { when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] };
  t.false(evaluate([{ name: 'x/allow', action: 'ALLOW', rules: [rule] }], http('/x')).allowed);
  t.false(evaluate([{ name: 'x/deny', action: 'DENY', rules: [rule] }], http('/x')).allowed);
});

test('rule structure: all of from/to/when; any entry of from and to; every field of a source', (t) => {
  const p = policy('combo', {
    rules: [
      {
        from: [{ source: { namespaces: ['foo'], ipBlocks: ['10.0.0.0/8'] } }, { source: { principals: ['cluster.local/ns/bar/sa/x'] } }],
        to: [{ operation: { ports: ['8000'] } }, { operation: { ports: ['8001'] } }],
        when: [{ key: 'destination.port', notValues: ['8001'] }],
      },
    ],
  });
  t.true(evaluate([p], http('/x')).allowed);
  t.false(evaluate([p], http('/x', { sourceIp: '192.168.0.1' })).allowed, 'every field of a source');
  t.true(evaluate([p], http('/x', { sourceIp: '192.168.0.1', sourcePrincipal: 'spiffe://cluster.local/ns/bar/sa/x', sourceNamespace: 'bar' })).allowed, 'any entry of from');
  t.false(evaluate([p], http('/x', { destinationPort: 8001 })).allowed, 'when must match too');
  t.false(evaluate([p], http('/x', { destinationPort: 8002 })).allowed, 'to must match');
});

test('ipBlocks: IPv4 and IPv6 CIDRs, v4-mapped addresses, notIpBlocks, source.ip', (t) => {
  const v4 = policy('v4', { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }] });
  t.true(evaluate([v4], tcp({ sourceIp: '10.255.0.1' })).allowed);
  t.true(evaluate([v4], tcp({ sourceIp: '::ffff:10.1.2.3' })).allowed, 'v4-mapped');
  t.false(evaluate([v4], tcp({ sourceIp: '11.0.0.1' })).allowed);
  t.false(evaluate([v4], tcp({ sourceIp: '::1' })).allowed);
  const mapped = policy('mapped', { rules: [{ from: [{ source: { ipBlocks: ['::ffff:10.0.0.0/104'] } }] }] });
  t.true(evaluate([mapped], tcp({ sourceIp: '10.9.9.9' })).allowed, 'a v4-mapped block matches plain v4');
  const v6 = policy('v6', { rules: [{ from: [{ source: { ipBlocks: ['2001:db8::/32', '::1'] } }] }] });
  t.true(evaluate([v6], tcp({ sourceIp: '2001:db8:1::5' })).allowed);
  t.true(evaluate([v6], tcp({ sourceIp: '::1' })).allowed);
  t.false(evaluate([v6], tcp({ sourceIp: 'fe80::1%eth0' })).allowed);
  const linkLocal = policy('link-local', { rules: [{ from: [{ source: { ipBlocks: ['fe80::/10'] } }] }] });
  t.true(evaluate([linkLocal], tcp({ sourceIp: 'fe80::1%eth0' })).allowed, 'a zone is ignored');
  t.false(evaluate([v6], tcp({ sourceIp: '2001:db9::1' })).allowed);
  const host = policy('host', { rules: [{ from: [{ source: { ipBlocks: ['10.1.2.3'] } }] }] });
  t.true(evaluate([host], tcp()).allowed);
  t.false(evaluate([host], tcp({ sourceIp: '10.1.2.4' })).allowed);
  const notBlocks = policy('not', { action: 'DENY', rules: [{ from: [{ source: { notIpBlocks: ['10.0.0.0/8'] } }] }] });
  t.true(evaluate([notBlocks], tcp()).allowed);
  t.false(evaluate([notBlocks], tcp({ sourceIp: '192.168.1.1' })).allowed);
  const when = policy('when-ip', { rules: [{ when: [{ key: 'source.ip', values: ['10.1.0.0/16'], notValues: ['10.1.2.0/24'] }] }] });
  t.true(evaluate([when], tcp({ sourceIp: '10.1.3.1' })).allowed);
  t.false(evaluate([when], tcp()).allowed);
});

test('ports and destination.port compare as numbers', (t) => {
  const p = policy('ports', { rules: [{ to: [{ operation: { ports: ['08000'] } }] }] });
  t.true(evaluate([p], http('/x')).allowed);
  const notPorts = policy('not-ports', { rules: [{ to: [{ operation: { notPorts: ['8000'] } }] }] });
  t.false(evaluate([notPorts], http('/x')).allowed);
  t.true(evaluate([notPorts], tcp()).allowed);
  const when = policy('when-port', { rules: [{ when: [{ key: 'destination.port', values: ['9000'] }] }] });
  t.true(evaluate([when], tcp()).allowed);
  t.false(evaluate([when], http('/x')).allowed);
});

test('request.headers conditions: name case-insensitive, prefix match, absent header with notValues', (t) => {
  const p = policy('hdr', { rules: [{ when: [{ key: 'request.headers[X-Api-Version]', values: ['v1*'] }] }] });
  t.true(evaluate([p], http('/x', { headers: { 'x-api-version': 'v1.2' } })).allowed);
  t.true(evaluate([p], http('/x', { headers: { 'X-API-VERSION': 'v1' } })).allowed);
  t.false(evaluate([p], http('/x', { headers: { 'x-api-version': 'v2' } })).allowed);
  t.false(evaluate([p], http('/x')).allowed, 'absent header never matches values');
  const deny = policy('hdr-deny', { action: 'DENY', rules: [{ when: [{ key: 'request.headers[x-token]', notValues: ['secret'] }] }] });
  t.false(evaluate([deny], http('/x')).allowed, 'absent header is "not in the list"');
  t.true(evaluate([deny], http('/x', { headers: { 'x-token': 'secret' } })).allowed);
  t.false(evaluate([deny], http('/x', { headers: { 'x-token': ['secret', 'other'] } })).allowed, 'repeated header values are joined');
});

test('connection.sni', (t) => {
  const p = policy('sni', { rules: [{ when: [{ key: 'connection.sni', values: ['*.foo.svc.cluster.local'] }] }] });
  t.true(evaluate([p], tcp({ sni: 'httpbin.foo.svc.cluster.local' })).allowed);
  t.false(evaluate([p], tcp({ sni: 'httpbin.bar.svc.cluster.local' })).allowed);
  t.false(evaluate([p], tcp()).allowed, 'no SNI never matches values');
});
