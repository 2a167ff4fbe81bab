import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { request, Agent, type IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { ConnectionAccepted, HandshakeFailure } from '../../proxy/src/events.js';
import { connectMesh, verifiedPeerId } from '../../proxy/src/outbound.js';
import { createPkiSet, opensslDate, spiffe, type LeafMaterial, type PkiSet } from '../helpers/openssl-pki.js';
import { closeServer, closed, listenOn, readAll, startEchoApp, startHttpApp, waitForEvent, type SeenRequest } from '../helpers/proxy-harness.js';
import { sidecar, type Sidecar } from '../helpers/proxy-sidecars.js';

const ID_A = spiffe('foo', 'sleep');
const ID_B = spiffe('foo', 'httpbin');

let pki: PkiSet;
let leafA: LeafMaterial;
let leafB: LeafMaterial;
test.before(async () => {
  pki = await createPkiSet();
  [leafA, leafB] = await Promise.all([pki.mesh.leaf({ spiffeId: ID_A }), pki.mesh.leaf({ spiffeId: ID_B, dns: ['httpbin.foo'] })]);
});
test.after.always(async () => {
  await pki?.cleanup();
});

function get(port: number, path: string, headers: Record<string, string> = {}, agent?: Agent): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: agent ?? false, signal: AbortSignal.timeout(5000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function pair(t: ExecutionContext): { a: Sidecar; b: Sidecar } {
  const a = sidecar(pki.mesh.snapshot(leafA));
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  return { a, b };
}

test('two sidecars talk mTLS; the app sees x-forwarded-client-cert with the caller identity, spoofs replaced', async (t) => {
  const { a, b } = pair(t);
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, true);
  const upA = await a.upstream('httpbin.foo', 8000, {
    'httpbin.foo:8000': { address: { host: '127.0.0.1', port: inB.port }, hasSidecar: true, expectedIds: [ID_B] },
  });

  const inboundAccepted = waitForEvent<ConnectionAccepted>(b.events, 'connection-accepted');
  const outboundAccepted = waitForEvent<ConnectionAccepted>(a.events, 'connection-accepted');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const spoof = { 'x-forwarded-client-cert': 'By=spiffe://evil/x;URI=spiffe://cluster.local/ns/admin/sa/root' };
  const r1 = await get(upA.port, '/headers', spoof, agent);
  const r2 = await get(upA.port, '/headers?again=1', { 'X-Forwarded-Client-Cert': 'URI=spoof' }, agent);
  t.is(r1.res.statusCode, 200);
  t.is(r2.res.statusCode, 200);

  const expected = `By=${ID_B};URI=${ID_A}`;
  for (const seen of JSON.parse(`[${r1.body},${r2.body}]`) as SeenRequest[]) {
    t.is(seen.headers['x-forwarded-client-cert'], expected);
    t.is(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-client-cert').length, 1);
  }
  t.is(app.seen.length, 2);
  const inEv = await inboundAccepted;
  t.is(inEv.tlsMode, 'mtls');
  t.is(inEv.peerId, ID_A);
  t.is(inEv.localSerial, leafB.serialHex);
  const outEv = await outboundAccepted;
  t.is(outEv.tlsMode, 'mtls');
  t.is(outEv.peerId, ID_B);
  t.is(outEv.direction, 'outbound');
});

test('secure naming: a server whose identity is not registered for the service is refused', async (t) => {
  const { a, b } = pair(t);
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, true);
  const upA = await a.upstream('httpbin.foo', 8000, {
    'httpbin.foo:8000': { address: { host: '127.0.0.1', port: inB.port }, hasSidecar: true, expectedIds: [spiffe('foo', 'the-real-httpbin')] },
  });
  const failure = waitForEvent<HandshakeFailure>(a.events, 'handshake-failure');
  const s = netConnect(upA.port, '127.0.0.1');
  s.end('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  const got = await readAll(s);
  t.is(got.length, 0);
  const f = await failure;
  t.is(f.reason, 'identity_mismatch');
  t.is(f.peerId, ID_B);
  t.deepEqual(f.expectedIds, [spiffe('foo', 'the-real-httpbin')]);
  t.is(app.seen.length, 0);

  // connectMesh itself rejects with the reason.
  const err = await t.throwsAsync(connectMesh({ host: '127.0.0.1', port: inB.port, expectedIds: [ID_A] }, a.contexts));
  t.is((err as unknown as { reason: string }).reason, 'identity_mismatch');
});

/** A mesh-ALPN TLS client presenting `leaf` (or nothing) to B's inbound; resolves with B's failure event. */
async function inboundRefuses(t: ExecutionContext, leaf: LeafMaterial | undefined): Promise<HandshakeFailure> {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, false);
  const failure = waitForEvent<HandshakeFailure>(b.events, 'handshake-failure');
  const c = tlsConnect({
    host: '127.0.0.1',
    port: inB.port,
    ALPNProtocols: ['mtls-mesh'],
    ca: pki.mesh.root.certPem,
    checkServerIdentity: () => undefined,
    ...(leaf ? { key: leaf.keyPem, cert: leaf.chainPem.join('\n') } : {}),
  });
  c.on('error', () => undefined);
  c.on('secureConnect', () => c.write('hello?'));
  const f = await failure;
  await closed(c);
  t.is(app.sockets.size, 0);
  return f;
}

test('inbound refuses a mesh-ALPN client without a client certificate', async (t) => {
  const f = await inboundRefuses(t, undefined);
  t.is(f.reason, 'no_client_cert');
  t.is(f.direction, 'inbound');
  t.truthy(f.peerAddress);
});

test('inbound refuses a client certificate from another CA', async (t) => {
  const f = await inboundRefuses(t, await pki.other.leaf({ spiffeId: ID_A }));
  t.is(f.reason, 'unknown_authority');
});

test('inbound refuses an expired client certificate', async (t) => {
  const expired = await pki.mesh.leaf({ spiffeId: ID_A, startDate: opensslDate(Date.now() - 3 * 86_400_000), endDate: opensslDate(Date.now() - 86_400_000) });
  const f = await inboundRefuses(t, expired);
  t.is(f.reason, 'cert_expired');
});

test('inbound refuses a client certificate without clientAuth', async (t) => {
  const f = await inboundRefuses(t, await pki.mesh.leaf({ spiffeId: ID_A, eku: 'serverAuth' }));
  t.is(f.reason, 'bad_key_usage');
});

test('a plaintext client reaches the app (PERMISSIVE), without any forwarded identity', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, true);
  const accepted = waitForEvent<ConnectionAccepted>(b.events, 'connection-accepted');
  const r = await get(inB.port, '/ip', { 'x-forwarded-client-cert': 'By=x;URI=spiffe://cluster.local/ns/admin/sa/root' });
  t.is(r.res.statusCode, 200);
  const seen = JSON.parse(r.body) as SeenRequest;
  t.is(seen.headers['x-forwarded-client-cert'], undefined);
  t.is(seen.url, '/ip');
  const ev = await accepted;
  t.is(ev.tlsMode, 'plaintext');
  t.is(ev.peerId, undefined);
});

test('the app’s own TLS (no mesh ALPN) passes through untouched', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const appLeaf = await pki.other.leaf({ spiffeId: spiffe('foo', 'own-tls'), dns: ['own-tls.foo'] });
  const appTls = createTlsServer({ key: appLeaf.keyPem, cert: appLeaf.chainPem.join('\n'), ALPNProtocols: ['h2', 'http/1.1'] }, (s) => s.pipe(s));
  const appPort = await listenOn(appTls);
  t.teardown(() => closeServer(appTls));
  const inB = await b.inbound(appPort, false);
  const accepted = waitForEvent<ConnectionAccepted>(b.events, 'connection-accepted');
  const c = tlsConnect({ host: '127.0.0.1', port: inB.port, ca: pki.other.root.certPem, servername: 'own-tls.foo', ALPNProtocols: ['http/1.1'] });
  await once(c, 'secureConnect', { signal: AbortSignal.timeout(5000) });
  t.is(c.getPeerCertificate().serialNumber.toLowerCase(), appLeaf.serialHex);
  t.is(c.alpnProtocol, 'http/1.1');
  c.end('through');
  t.is((await readAll(c)).toString(), 'through');
  t.is((await accepted).tlsMode, 'passthrough');
});

test('hot swap: an open connection carries on, a new one gets the new certificate', async (t) => {
  const { a, b } = pair(t);
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, false);
  const upA = await a.upstream('echo.foo', 7, {
    'echo.foo:7': { address: { host: '127.0.0.1', port: inB.port }, hasSidecar: true, expectedIds: [ID_B] },
  });
  const first = waitForEvent<ConnectionAccepted>(b.events, 'connection-accepted');
  const s = netConnect(upA.port, '127.0.0.1');
  s.write('one');
  const [echo1] = (await once(s, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
  t.is(echo1.toString(), 'one');
  t.is((await first).localSerial, leafB.serialHex);

  const leafB2 = await pki.mesh.leaf({ spiffeId: ID_B });
  const rebuilt = once(b.contexts, 'rebuilt', { signal: AbortSignal.timeout(5000) });
  b.source.set(pki.mesh.snapshot(leafB2));
  await rebuilt;

  s.write('two');
  const [echo2] = (await once(s, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
  t.is(echo2.toString(), 'two');

  const second = waitForEvent<ConnectionAccepted>(b.events, 'connection-accepted');
  const direct: TLSSocket = await connectMesh({ host: '127.0.0.1', port: inB.port, expectedIds: [ID_B] }, a.contexts);
  t.is(direct.getPeerCertificate().serialNumber.toLowerCase(), leafB2.serialHex);
  t.is((await second).localSerial, leafB2.serialHex);
  direct.end('three');
  t.is((await readAll(direct)).toString(), 'three');

  s.end();
  t.is((await readAll(s)).toString(), '');
});

test('session resumption between sidecars: a new connection resumes, a rotation on either side forces a full handshake', async (t) => {
  const { a, b } = pair(t);
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, false);
  const target = { host: '127.0.0.1', port: inB.port, expectedIds: [ID_B] };
  /** One echo round trip (the server's session tickets arrive before the echo), then the close. */
  const roundTrip = async (expectReused: boolean, serial: string): Promise<void> => {
    const accepted = waitForEvent<ConnectionAccepted>(b.events, 'connection-accepted');
    const s: TLSSocket = await connectMesh(target, a.contexts);
    t.is(s.isSessionReused(), expectReused);
    // A resumed session has no peer certificate to show; the server's accepted event says which certificate it used.
    t.is(verifiedPeerId(s), ID_B);
    const acc = await accepted;
    t.is(acc.peerId, ID_A);
    t.is(acc.localSerial, serial);
    s.end('ping');
    t.is((await readAll(s)).toString(), 'ping');
  };
  await roundTrip(false, leafB.serialHex);
  t.is(a.contexts.current()?.sessions.size, 1);
  await roundTrip(true, leafB.serialHex);

  // Server rotation: its new context cannot open the old tickets.
  const leafB2 = await pki.mesh.leaf({ spiffeId: ID_B });
  const rebuiltB = once(b.contexts, 'rebuilt', { signal: AbortSignal.timeout(5000) });
  b.source.set(pki.mesh.snapshot(leafB2));
  await rebuiltB;
  await roundTrip(false, leafB2.serialHex);
  await roundTrip(true, leafB2.serialHex);
  // A resumed session still passes secure naming against today's expected identities.
  const err = await t.throwsAsync(connectMesh({ ...target, expectedIds: [spiffe('foo', 'someone-else')] }, a.contexts));
  t.is((err as unknown as { reason: string }).reason, 'identity_mismatch');
  await roundTrip(false, leafB2.serialHex);

  // Client rotation: the new generation starts with no session.
  const leafA2 = await pki.mesh.leaf({ spiffeId: ID_A });
  const rebuiltA = once(a.contexts, 'rebuilt', { signal: AbortSignal.timeout(5000) });
  a.source.set(pki.mesh.snapshot(leafA2));
  await rebuiltA;
  t.is(a.contexts.current()?.sessions.size, 0);
  await roundTrip(false, leafB2.serialHex);
});
