// PeerAuthentication (inbound modes) and DestinationRule (client TLS) enforced by live sidecars on loopback.
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionAccepted, ConnectionEvicted, HandshakeFailure, UpstreamFailure } from '../../proxy/src/events.js';
import { InboundListener } from '../../proxy/src/inbound.js';
import { DEFAULT_WORKLOAD_POLICY, PolicyState, policyDecideOutbound } from '../../proxy/src/policy/index.js';
import { UpstreamListener, HttpProxyListener } from '../../proxy/src/outbound.js';
import type { ResolvedDestination } from '../../proxy/src/resolver.js';
import { StaticResolver } from '../../proxy/src/resolver.js';
import type { MtlsMode, ResolvedClientTls, ResolvedWorkloadPolicy } from '../../shared/policy/types.js';
import { createPkiSet, spiffe, type LeafMaterial, type PkiSet } from '../helpers/openssl-pki.js';
import { closed, readAll, startEchoApp, startHttpApp, waitForEvent, type SeenRequest } from '../helpers/proxy-harness.js';
import { sidecar, type Sidecar } from '../helpers/proxy-sidecars.js';

const ID_A = spiffe('foo', 'sleep');
const ID_B = spiffe('foo', 'httpbin');

let pki: PkiSet;
let leafA: LeafMaterial;
let leafB: LeafMaterial;
test.before(async () => {
  pki = await createPkiSet();
  [leafA, leafB] = await Promise.all([pki.mesh.leaf({ spiffeId: ID_A }), pki.mesh.leaf({ spiffeId: ID_B })]);
});
test.after.always(async () => {
  await pki?.cleanup();
});

const policy = (over: Partial<ResolvedWorkloadPolicy>): ResolvedWorkloadPolicy => ({ ...DEFAULT_WORKLOAD_POLICY, ...over });
const mode = (m: MtlsMode, portModes: Record<string, MtlsMode> = {}): ResolvedWorkloadPolicy => policy({ inboundMode: m, portModes });

function pair(t: ExecutionContext): { a: Sidecar; b: Sidecar } {
  const a = sidecar(pki.mesh.snapshot(leafA));
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  return { a, b };
}

async function inbound(t: ExecutionContext, side: Sidecar, state: PolicyState, appPort: number, http: boolean, servicePort?: number): Promise<InboundListener> {
  const l = new InboundListener({ port: { listenHost: '127.0.0.1', listenPort: 0, appPort, servicePort, http }, contexts: side.contexts, events: side.events, timer: side.timer, policy: state });
  await l.listen();
  t.teardown(() => l.close(true));
  return l;
}

/** A's upstream listener to one service, with client TLS decided by A's policy. */
async function upstream(t: ExecutionContext, a: Sidecar, aPolicy: PolicyState, service: string, port: number, dest: ResolvedDestination): Promise<UpstreamListener> {
  const l = new UpstreamListener(
    { listenHost: '127.0.0.1', listenPort: 0, service, servicePort: port },
    { ...a.outboundOptions({ [`${service}:${port}`]: dest }), decideOutbound: policyDecideOutbound(aPolicy, 'foo') },
  );
  await l.listen();
  t.teardown(() => l.close(true));
  return l;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false, signal: AbortSignal.timeout(5000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const sidecarDest = (port: number): ResolvedDestination => ({ address: { host: '127.0.0.1', port }, hasSidecar: true, expectedIds: [ID_B] });

test('STRICT: plaintext on an HTTP port gets 503 and is counted as plaintext_refused; mesh mTLS gets through', async (t) => {
  const { a, b } = pair(t);
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const bPolicy = new PolicyState(mode('STRICT'));
  const inB = await inbound(t, b, bPolicy, app.port, true);

  const failure = waitForEvent<HandshakeFailure>(b.events, 'handshake-failure');
  const s = netConnect(inB.port, '127.0.0.1');
  s.write('GET /plain HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n');
  const answer = (await readAll(s)).toString('latin1');
  t.true(answer.startsWith('HTTP/1.1 503 Service Unavailable\r\n'), answer);
  t.regex(answer, /connection: close\r\n/);
  t.regex(answer, /STRICT/);
  const f = await failure;
  t.is(f.reason, 'plaintext_refused');
  t.is(f.direction, 'inbound');
  t.truthy(f.peerAddress);

  const upA = await upstream(t, a, new PolicyState(), 'httpbin.foo', 8000, sidecarDest(inB.port));
  const accepted = waitForEvent<ConnectionAccepted>(b.events, 'connection-accepted');
  const r = await get(upA.port, '/mtls');
  t.is(r.res.statusCode, 200);
  t.is((await accepted).tlsMode, 'mtls');
  t.deepEqual(app.seen.map((x) => x.url), ['/mtls']);
});

test('STRICT: plaintext on a TCP port is closed without a byte; the app’s own TLS is refused too', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await inbound(t, b, new PolicyState(mode('STRICT')), app.port, false);

  const plainFailure = waitForEvent<HandshakeFailure>(b.events, 'handshake-failure');
  const s = netConnect(inB.port, '127.0.0.1');
  s.write('hello');
  t.is((await readAll(s)).length, 0);
  t.is((await plainFailure).reason, 'plaintext_refused');

  // TLS without the mesh ALPN is plaintext to the mesh: nobody authenticated the client.
  const tlsFailure = waitForEvent<HandshakeFailure>(b.events, 'handshake-failure');
  const c = tlsConnect({ host: '127.0.0.1', port: inB.port, servername: 'own-tls.foo', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
  const [err] = (await once(c, 'error', { signal: AbortSignal.timeout(5000) })) as [Error & { code?: string }];
  t.is(err.code, 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED');
  t.is((await tlsFailure).reason, 'plaintext_refused');
  t.is(app.sockets.size, 0);
});

test('PERMISSIVE: plaintext and mesh mTLS on the same port', async (t) => {
  const { a, b } = pair(t);
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const inB = await inbound(t, b, new PolicyState(mode('PERMISSIVE')), app.port, true);
  const upA = await upstream(t, a, new PolicyState(), 'httpbin.foo', 8000, sidecarDest(inB.port));
  t.is((await get(inB.port, '/plain')).res.statusCode, 200);
  const r = await get(upA.port, '/mtls');
  t.is(r.res.statusCode, 200);
  const seen = app.seen.map((x) => [x.url, x.headers['x-forwarded-client-cert']]);
  t.deepEqual(seen, [
    ['/plain', undefined],
    ['/mtls', `By=${ID_B};URI=${ID_A}`],
  ]);
});

test('DISABLE: plaintext passes; a mesh-ALPN client is refused with reason protocol on both sides', async (t) => {
  const { a, b } = pair(t);
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const inB = await inbound(t, b, new PolicyState(mode('DISABLE')), app.port, true);
  t.is((await get(inB.port, '/plain')).res.statusCode, 200);

  const upA = await upstream(t, a, new PolicyState(), 'httpbin.foo', 8000, sidecarDest(inB.port));
  const serverSide = waitForEvent<HandshakeFailure>(b.events, 'handshake-failure');
  const clientSide = waitForEvent<HandshakeFailure>(a.events, 'handshake-failure');
  const s = netConnect(upA.port, '127.0.0.1');
  s.write('GET /mtls HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n');
  t.is((await readAll(s)).length, 0);
  const sf = await serverSide;
  t.is(sf.reason, 'protocol_mismatch');
  t.regex(sf.error.message, /DISABLE/);
  const cf = await clientSide;
  t.is(cf.reason, 'protocol_mismatch');
  t.is(cf.direction, 'outbound');
  t.deepEqual(app.seen.map((x) => x.url), ['/plain']);
});

test('port-level mode: a PERMISSIVE service port inside a STRICT workload', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const state = new PolicyState(mode('STRICT', { '8080': 'PERMISSIVE' }));
  const legacyPort = await inbound(t, b, state, app.port, true, 8080);
  const strictPort = await inbound(t, b, state, app.port, true, 8000);
  t.is((await get(legacyPort.port, '/legacy')).res.statusCode, 200);
  t.is((await get(strictPort.port, '/strict')).res.statusCode, 503);
  t.deepEqual(app.seen.map((x) => x.url), ['/legacy']);
});

test('a switch to STRICT closes the plaintext connections already open; mTLS ones carry on', async (t) => {
  const { a, b } = pair(t);
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const bPolicy = new PolicyState(mode('PERMISSIVE'));
  const inB = await inbound(t, b, bPolicy, app.port, false);
  const upA = await upstream(t, a, new PolicyState(), 'echo.foo', 7, sidecarDest(inB.port));

  const plain = netConnect(inB.port, '127.0.0.1');
  plain.write('p1');
  t.is(((await once(plain, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer])[0].toString(), 'p1');
  const mtls = netConnect(upA.port, '127.0.0.1');
  mtls.write('m1');
  t.is(((await once(mtls, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer])[0].toString(), 'm1');

  const evicted = waitForEvent<ConnectionEvicted>(b.events, 'connection-evicted');
  bPolicy.apply(mode('STRICT'));
  const ev = await evicted;
  t.is(ev.tlsMode, 'plaintext');
  t.is(ev.mode, 'STRICT');
  await closed(plain);

  mtls.write('m2');
  t.is(((await once(mtls, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer])[0].toString(), 'm2');
  mtls.end();
  await closed(mtls);
});

test('DestinationRule: DISABLE makes the client send plaintext, ISTIO_MUTUAL mTLS, no rule auto mTLS', async (t) => {
  const { a, b } = pair(t);
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const inB = await inbound(t, b, new PolicyState(), app.port, true);
  const aPolicy = new PolicyState();
  const upA = await upstream(t, a, aPolicy, 'httpbin.foo', 8000, sidecarDest(inB.port));
  const rule = (m: ResolvedClientTls['mode']): ResolvedClientTls => ({ host: 'httpbin.foo.svc.cluster.local', mode: m, source: 'foo/httpbin' });

  const tlsModes: string[] = [];
  b.events.on('connection-accepted', (e: ConnectionAccepted) => tlsModes.push(e.tlsMode));
  const xfcc = async (): Promise<string | undefined> => {
    const r = await get(upA.port, '/headers');
    t.is(r.res.statusCode, 200);
    return (JSON.parse(r.body) as SeenRequest).headers['x-forwarded-client-cert'] as string | undefined;
  };
  t.is(await xfcc(), `By=${ID_B};URI=${ID_A}`);
  aPolicy.apply(policy({ clientTls: [rule('DISABLE')] }));
  t.is(await xfcc(), undefined);
  aPolicy.apply(policy({ clientTls: [rule('ISTIO_MUTUAL')] }));
  t.is(await xfcc(), `By=${ID_B};URI=${ID_A}`);
  t.deepEqual(tlsModes, ['mtls', 'plaintext', 'mtls']);
});

test('DestinationRule ISTIO_MUTUAL towards a workload without a sidecar fails with a clear upstream error', async (t) => {
  const a = sidecar(pki.mesh.snapshot(leafA));
  t.teardown(() => a.stop());
  const legacy = await startHttpApp();
  t.teardown(() => legacy.close());
  const aPolicy = new PolicyState(policy({ clientTls: [{ host: '*.legacy.svc.cluster.local', mode: 'ISTIO_MUTUAL', source: 'legacy/mtls' }] }));
  const proxy = new HttpProxyListener({
    contexts: a.contexts,
    events: a.events,
    timer: a.timer,
    resolver: new StaticResolver({ 'app.legacy:80': { address: { host: '127.0.0.1', port: legacy.port }, hasSidecar: false, expectedIds: [] } }),
    decideOutbound: policyDecideOutbound(aPolicy, 'foo'),
    listenHost: '127.0.0.1',
    listenPort: 0,
  });
  await proxy.listen();
  t.teardown(() => proxy.close(true));
  const failure = waitForEvent<UpstreamFailure>(a.events, 'upstream-failure');
  const r = await get(proxy.port, 'http://app.legacy/x', { host: 'app.legacy' });
  t.is(r.res.statusCode, 502);
  t.regex(r.body, /ISTIO_MUTUAL.*no sidecar/);
  t.is((await failure).target, 'app.legacy:80');
  t.is(legacy.seen.length, 0);
});
