import test from 'ava';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ProxyEvents, logProxyEvents } from '../../proxy/src/events.js';
import { FakeClock } from '../../shared/clock.js';
import { CoarseTimer } from '../../proxy/src/coarse-timer.js';
import { HANDSHAKE_FAILURE_REASONS, HandshakeError, type HandshakeFailureReason, explainHandshakeFailure, handshakeFailureReason, toHandshakeError } from '../../proxy/src/handshake-errors.js';
import { parseRequestHead } from '../../proxy/src/http1.js';
import { parseProxyTarget, parseUpstreamSpec } from '../../proxy/src/outbound.js';
import { parseSubjectAltNames, spiffeIdOfSans } from '../../proxy/src/peer-identity.js';
import { StaticResolver } from '../../proxy/src/resolver.js';

test('coarse timer: deadlines fire within one tick, cancelled ones never; it stops when empty', (t) => {
  const clock = new FakeClock(0);
  const timer = new CoarseTimer(clock, 100);
  const fired: string[] = [];
  timer.setTimer(250, () => fired.push('a'));
  const b = timer.setTimer(150, () => fired.push('b'));
  b.cancel();
  clock.advance(200);
  t.deepEqual(fired, []);
  clock.advance(100);
  t.deepEqual(fired, ['a']);
  t.is(timer.size, 0);
  t.is(clock.pending, 0);
});

test('coarse timer: idle watch polls a counter once per tick', (t) => {
  const clock = new FakeClock(0);
  const timer = new CoarseTimer(clock, 100);
  let bytes = 0;
  let polls = 0;
  let idle = false;
  timer.watchIdle(() => (polls++, bytes), 300, () => (idle = true));
  clock.advance(200);
  bytes = 10;
  clock.advance(200);
  t.false(idle);
  clock.advance(300);
  t.true(idle);
  t.is(polls, 6); // ticks 100..600; the first poll starts the idle clock
});

test('handshake reasons: Node/OpenSSL codes map to the closed union, with words', (t) => {
  const e = (code: string): Error => Object.assign(new Error(code), { code });
  const cases: [string, HandshakeFailureReason][] = [
    ['CERT_HAS_EXPIRED', 'cert_expired'],
    ['CERT_NOT_YET_VALID', 'cert_not_yet_valid'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown_authority'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown_authority'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown_authority'],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'unknown_authority'],
    ['INVALID_PURPOSE', 'bad_key_usage'],
    ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'no_client_cert'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'no_client_cert'],
    ['ERR_SSL_UNSUPPORTED_PROTOCOL', 'protocol_mismatch'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'protocol_mismatch'],
    ['ERR_SSL_NO_APPLICATION_PROTOCOL', 'protocol_mismatch'],
    ['ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL', 'protocol_mismatch'],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', 'handshake_timeout'],
    ['ECONNRESET', 'peer_reset'],
    ['SOMETHING_ELSE', 'other'],
  ];
  for (const [code, reason] of cases) t.is(handshakeFailureReason(e(code)), reason, code);
  t.is(handshakeFailureReason('not an error'), 'other');
  t.is(handshakeFailureReason(new HandshakeError('identity_mismatch', 'x')), 'identity_mismatch');
  const lifted = toHandshakeError(e('CERT_HAS_EXPIRED'), 'x');
  t.is(lifted.code, 'MESH_ERR_PROXY_HANDSHAKE');
  t.is(lifted.reason, 'cert_expired');
  for (const r of HANDSHAKE_FAILURE_REASONS) t.true(explainHandshakeFailure(r).length > 10);
});

test('SVID identity: exactly one URI SAN, a workload SPIFFE ID; quoted SANs cannot inject entries', (t) => {
  t.deepEqual(spiffeIdOfSans('DNS:httpbin.foo, URI:spiffe://cluster.local/ns/foo/sa/httpbin'), { ok: true, spiffeId: 'spiffe://cluster.local/ns/foo/sa/httpbin' });
  t.false(spiffeIdOfSans('DNS:a').ok);
  t.false(spiffeIdOfSans(undefined).ok);
  t.false(spiffeIdOfSans('URI:spiffe://cluster.local/ns/a/sa/b, URI:spiffe://cluster.local/ns/c/sa/d').ok);
  t.false(spiffeIdOfSans('URI:https://example.com/').ok);
  // Node quotes values with special characters as JSON strings.
  const crafted = 'DNS:"a, URI:spiffe://cluster.local/ns/admin/sa/root"';
  t.deepEqual(parseSubjectAltNames(crafted), [['DNS', 'a, URI:spiffe://cluster.local/ns/admin/sa/root']]);
  t.false(spiffeIdOfSans(crafted).ok);
});

test('upstream specs', (t) => {
  t.deepEqual(parseUpstreamSpec('127.0.0.1:9001=httpbin.foo:8000'), { listenHost: '127.0.0.1', listenPort: 9001, service: 'httpbin.foo', servicePort: 8000 });
  t.deepEqual(parseUpstreamSpec('9001=HTTPBIN.foo:80'), { listenHost: '127.0.0.1', listenPort: 9001, service: 'httpbin.foo', servicePort: 80 });
  t.deepEqual(parseUpstreamSpec('[::1]:9001=a.b:1')?.listenHost, '::1');
  for (const bad of ['9001', '9001=a', '9001=a:0', '70000=a:1', 'x:y=a:1', '1=a:70000', '1=-a:1']) t.is(parseUpstreamSpec(bad), undefined, bad);
});

test('forward-proxy targets', (t) => {
  const head = (s: string) => {
    const p = parseRequestHead(Buffer.from(s));
    if (!p.ok) throw new Error(p.detail);
    return p.head;
  };
  t.deepEqual(parseProxyTarget(head('GET http://HttpBin.foo:8000/a/../b?x=1#frag HTTP/1.1\r\n\r\n')), { host: 'httpbin.foo', port: 8000, authority: 'HttpBin.foo:8000', originForm: '/a/../b?x=1' });
  t.deepEqual(parseProxyTarget(head('GET http://h?q HTTP/1.1\r\n\r\n')), { host: 'h', port: 80, authority: 'h', originForm: '/?q' });
  t.deepEqual(parseProxyTarget(head('CONNECT db.bar:5432 HTTP/1.1\r\n\r\n')), { host: 'db.bar', port: 5432, authority: 'db.bar:5432', originForm: undefined });
  t.deepEqual(parseProxyTarget(head('GET /x HTTP/1.1\r\nHost: a.b:81\r\n\r\n')), { host: 'a.b', port: 81, authority: 'a.b:81', originForm: undefined });
  t.is(typeof parseProxyTarget(head('GET /x HTTP/1.1\r\n\r\n')), 'string');
  t.is(typeof parseProxyTarget(head('GET http://user@h/ HTTP/1.1\r\n\r\n')), 'string');
  t.is(typeof parseProxyTarget(head('CONNECT h HTTP/1.1\r\n\r\n')), 'string');
  t.is(typeof parseProxyTarget(head('GET https://h/ HTTP/1.1\r\n\r\n')), 'string');
});

test('static resolver is case-insensitive on hosts', (t) => {
  const r = new StaticResolver({ 'HttpBin.foo:8000': { address: { host: '10.0.0.1', port: 15006 }, hasSidecar: true, expectedIds: ['x'] } });
  t.is(r.resolve('httpbin.FOO', 8000)?.address.port, 15006);
  t.is(r.resolve('httpbin.foo', 8001), undefined);
});

test('handshake failures are logged with the peer address, both identities and the reason in words', (t) => {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
  const events = new ProxyEvents();
  const stop = logProxyEvents(events, log);
  events.emit('handshake-failure', {
    direction: 'outbound',
    reason: 'identity_mismatch',
    listener: 'upstream:9001=httpbin.foo:8000',
    peerAddress: '10.0.0.7:15006',
    localId: 'spiffe://cluster.local/ns/foo/sa/sleep',
    peerId: 'spiffe://cluster.local/ns/foo/sa/evil',
    expectedIds: ['spiffe://cluster.local/ns/foo/sa/httpbin'],
    error: new HandshakeError('identity_mismatch', 'server presented …'),
  });
  events.emit('connection-accepted', { direction: 'inbound', tlsMode: 'mtls', listener: 'l', peerId: undefined, localId: undefined, remoteAddress: undefined, localSerial: undefined });
  stop();
  t.is(lines.length, 1);
  const rec = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  t.is(rec.reason, 'identity_mismatch');
  t.is(rec.peerAddress, '10.0.0.7:15006');
  t.is(rec.peerId, 'spiffe://cluster.local/ns/foo/sa/evil');
  t.is(rec.localId, 'spiffe://cluster.local/ns/foo/sa/sleep');
  t.is(rec.code, 'MESH_ERR_PROXY_HANDSHAKE');
  t.regex(String(rec.msg), /does not carry an expected SPIFFE ID/);
});
