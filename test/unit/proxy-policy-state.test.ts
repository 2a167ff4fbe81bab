import test from 'ava';
import { parseRequestHead, type RequestHead } from '../../proxy/src/http1.js';
import { ConnectionAttributes, HttpRequestAttributes, decodeHeaders, namespaceOf, sourceIpOf } from '../../proxy/src/policy/authz-attributes.js';
import { denialReply } from '../../proxy/src/policy/local-replies.js';
import { DEFAULT_WORKLOAD_POLICY, PolicyState, admitsInbound, inboundModeFor, policyDecideInbound, policyDecideOutbound } from '../../proxy/src/policy/index.js';
import type { ResolvedDestination } from '../../proxy/src/resolver.js';
import type { ResolvedWorkloadPolicy } from '../../shared/policy/types.js';

function head(s: string): RequestHead {
  const p = parseRequestHead(Buffer.from(s, 'latin1'));
  if (!p.ok) throw new Error(p.detail);
  return p.head;
}

const policy = (over: Partial<ResolvedWorkloadPolicy>): ResolvedWorkloadPolicy => ({ ...DEFAULT_WORKLOAD_POLICY, ...over });

test('before any policy: PERMISSIVE everywhere, no client TLS rules, no authorization', (t) => {
  const s = new PolicyState();
  t.is(s.current().inboundMode, 'PERMISSIVE');
  t.deepEqual(s.current().portModes, {});
  t.deepEqual(s.current().clientTls, []);
  t.deepEqual(s.current().authorization, []);
  t.is(s.inboundMode(8080), 'PERMISSIVE');
  t.is(s.version, undefined);
});

test('apply emits changed with (next, previous); port-level modes win over the workload mode', (t) => {
  const s = new PolicyState();
  const seen: [ResolvedWorkloadPolicy, ResolvedWorkloadPolicy][] = [];
  s.on('changed', (n, p) => seen.push([n, p]));
  const strict = policy({ inboundMode: 'STRICT', portModes: { '8080': 'PERMISSIVE' } });
  s.apply(strict, 'v1');
  t.is(s.version, 'v1');
  t.is(s.inboundMode(9000), 'STRICT');
  t.is(s.inboundMode(8080), 'PERMISSIVE');
  t.is(inboundModeFor(strict, 8080), 'PERMISSIVE');
  t.deepEqual(seen, [[strict, DEFAULT_WORKLOAD_POLICY]]);
});

test('the admission table of the three modes', (t) => {
  const kinds = ['mesh-mtls', 'tls', 'plaintext', 'malformed'] as const;
  const row = (m: 'STRICT' | 'PERMISSIVE' | 'DISABLE'): boolean[] => kinds.map((k) => admitsInbound(m, k));
  t.deepEqual(row('STRICT'), [true, false, false, false]);
  t.deepEqual(row('PERMISSIVE'), [true, true, true, true]);
  t.deepEqual(row('DISABLE'), [false, true, true, true]);
  const s = new PolicyState(policy({ inboundMode: 'STRICT' }));
  const decide = policyDecideInbound(s);
  t.is(decide('plaintext', 80), 'refuse');
  s.apply(policy({ inboundMode: 'PERMISSIVE' }));
  t.is(decide('plaintext', 80), 'accept');
});

test('outbound: DestinationRule mode, else auto mTLS', (t) => {
  const withSidecar: ResolvedDestination = { address: { host: '127.0.0.1', port: 1 }, hasSidecar: true, expectedIds: ['spiffe://cluster.local/ns/foo/sa/httpbin'] };
  const legacy: ResolvedDestination = { address: { host: '127.0.0.1', port: 2 }, hasSidecar: false, expectedIds: [] };
  const s = new PolicyState();
  const decide = policyDecideOutbound(s, 'foo');
  t.is(decide(withSidecar, 'httpbin.foo', 8000), 'mesh');
  t.is(decide(legacy, 'legacy.foo', 8000), 'plaintext');
  s.apply(
    policy({
      clientTls: [
        { host: 'httpbin.foo.svc.cluster.local', mode: 'DISABLE', source: 'foo/httpbin' },
        { host: '*.foo.svc.cluster.local', mode: 'ISTIO_MUTUAL', source: 'foo/all' },
      ],
    }),
  );
  t.is(decide(withSidecar, 'httpbin.foo', 8000), 'plaintext');
  t.is(decide(legacy, 'legacy.foo', 8000), 'mesh');
  t.is(decide(legacy, 'legacy.bar', 8000), 'plaintext');
});

test('authorization attributes: identity from the SPIFFE ID, IPv4-mapped addresses unwrapped', (t) => {
  t.is(namespaceOf('spiffe://cluster.local/ns/foo/sa/sleep'), 'foo');
  t.is(namespaceOf(undefined), undefined);
  t.is(namespaceOf('spiffe://cluster.local/weird'), undefined);
  t.is(sourceIpOf('::ffff:10.1.2.3'), '10.1.2.3');
  t.is(sourceIpOf('::1'), '::1');
  const a = ConnectionAttributes.of('spiffe://cluster.local/ns/foo/sa/sleep', '127.0.0.1', 8000, 'httpbin.foo', undefined);
  t.is(a.sourceNamespace, 'foo');
  t.is(a.sourceIp, '127.0.0.1');
  t.is(a.destinationPort, 8000);
  t.is(a.sni, 'httpbin.foo');
});

test('HTTP attributes: headers decoded only on demand, our x-forwarded-client-cert instead of the caller’s', (t) => {
  const h = head('GET /a?b=1 HTTP/1.1\r\nHost: httpbin.foo\r\nX-Tenant: one\r\nx-tenant: two\r\nX-Forwarded-Client-Cert: URI=spoof\r\n\r\n');
  t.deepEqual(decodeHeaders(h, undefined), { host: 'httpbin.foo', 'x-tenant': ['one', 'two'] });
  const attrs = new HttpRequestAttributes('By=b;URI=a');
  t.is(attrs.set(h), undefined);
  t.is(attrs.method, 'GET');
  t.is(attrs.path, '/a?b=1');
  t.is(attrs.host, 'httpbin.foo');
  t.is(attrs.headers['x-forwarded-client-cert'], 'By=b;URI=a');
  attrs.set(head('POST /b HTTP/1.1\r\nHost: other\r\n\r\n'));
  t.deepEqual(attrs.headers, { host: 'other', 'x-forwarded-client-cert': 'By=b;URI=a' });
});

test('an absolute-form target is matched by its path, and under both names when the authority is not Host', (t) => {
  const attrs = new HttpRequestAttributes(undefined);
  t.is(attrs.set(head('GET http://Evil.Example/admin?x HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n')), 'Evil.Example');
  t.is(attrs.path, '/admin?x');
  t.is(attrs.host, 'httpbin.foo');
  t.is(attrs.set(head('GET http://httpbin.foo HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n')), undefined);
  t.is(attrs.path, '/');
});

test('denial replies: Envoy’s RBAC body, keep-alive or close, no body for HEAD', (t) => {
  const r = denialReply(403, true, false).toString('latin1');
  t.true(r.startsWith('HTTP/1.1 403 Forbidden\r\n'));
  t.true(r.includes('content-type: text/plain\r\n'));
  t.true(r.includes('content-length: 19\r\n'));
  t.false(r.includes('connection: close'));
  t.true(r.endsWith('\r\n\r\nRBAC: access denied'));
  t.true(denialReply(403, false, false).toString('latin1').includes('connection: close\r\n'));
  t.true(denialReply(403, true, true).toString('latin1').endsWith('\r\n\r\n'));
  t.true(denialReply(400, true, false).toString('latin1').startsWith('HTTP/1.1 400 Bad Request\r\n'));
});

test('request heads report keep-alive and Expect: 100-continue', (t) => {
  t.true(head('GET / HTTP/1.1\r\n\r\n').keepAlive);
  t.false(head('GET / HTTP/1.1\r\nConnection: close\r\n\r\n').keepAlive);
  t.false(head('GET / HTTP/1.0\r\n\r\n').keepAlive);
  t.true(head('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').keepAlive);
  t.true(head('PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n').expectContinue);
  t.false(head('PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\n').expectContinue);
});
