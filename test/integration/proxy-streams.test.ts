import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionClosed, HandshakeFailure } from '../../proxy/src/events.js';
import { createPkiSet, spiffe, type LeafMaterial, type PkiSet } from '../helpers/openssl-pki.js';
import { closeServer, listenOn, readAll, startEchoApp, waitForEvent } from '../helpers/proxy-harness.js';
import { sidecar } from '../helpers/proxy-sidecars.js';

const ID_A = spiffe('foo', 'sleep');
const ID_B = spiffe('foo', 'echo');

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

test('8 MiB through two sidecars over mTLS with a slow reader arrive intact; bytes counted at close', async (t) => {
  const a = sidecar(pki.mesh.snapshot(leafA));
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, false);
  const upA = await a.upstream('echo.foo', 7, { 'echo.foo:7': { address: { host: '127.0.0.1', port: inB.port }, hasSidecar: true, expectedIds: [ID_B] } });
  const closedB = waitForEvent<ConnectionClosed>(b.events, 'connection-closed', () => true, 20_000);

  const payload = randomBytes(8 * 1024 * 1024);
  const s = netConnect(upA.port, '127.0.0.1');
  const hash = createHash('sha256');
  let received = 0;
  let sawBackPressure = false;
  const ended = new Promise<void>((resolve) => s.once('end', () => resolve()));
  s.on('data', (c: Buffer) => {
    hash.update(c);
    received += c.length;
    // A slow reader: stop after every chunk, go on in the next turn of the loop.
    s.pause();
    setImmediate(() => s.resume());
  });
  for (let off = 0; off < payload.length; off += 64 * 1024) {
    if (!s.write(payload.subarray(off, off + 64 * 1024))) {
      sawBackPressure = true;
      await once(s, 'drain');
    }
  }
  s.end();
  await ended;
  t.is(received, payload.length);
  t.is(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
  t.true(sawBackPressure);
  const ev = await closedB;
  t.is(ev.tlsMode, 'mtls');
  t.is(ev.peerId, ID_A);
  t.is(ev.bytesFromUpstream, payload.length); // what the app sent back, counted once
});

test('half-close through the mesh: the app answers after the client FIN', async (t) => {
  const a = sidecar(pki.mesh.snapshot(leafA));
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  // Reads until the client's FIN, then answers how much it got and closes.
  const app = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (c: Buffer) => (n += c.length));
    s.on('end', () => s.end(`got ${n} bytes`));
  });
  const appPort = await listenOn(app);
  t.teardown(() => closeServer(app));
  const inB = await b.inbound(appPort, false);
  const upA = await a.upstream('count.foo', 1, { 'count.foo:1': { address: { host: '127.0.0.1', port: inB.port }, hasSidecar: true, expectedIds: [ID_B] } });
  const s = netConnect({ port: upA.port, host: '127.0.0.1', allowHalfOpen: true });
  s.end('12345');
  t.is((await readAll(s)).toString(), 'got 5 bytes');
});

test('handshake timeout: a client that sends a mesh hello and stalls is cut off and counted', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, false, undefined, { handshakeMs: 200 });
  // Capture a mesh ClientHello, then replay only it from a raw socket that never answers the server.
  const capture = createServer();
  const capturePort = await listenOn(capture);
  const hello = new Promise<Buffer>((resolve) => capture.once('connection', (c: Socket) => c.once('data', (d: Buffer) => (resolve(d), c.destroy()))));
  const tc = tlsConnect({ port: capturePort, host: '127.0.0.1', ALPNProtocols: ['mtls-mesh'], rejectUnauthorized: false });
  tc.on('error', () => undefined);
  const helloBytes = await hello;
  tc.destroy();
  await closeServer(capture);

  const failure = waitForEvent<HandshakeFailure>(b.events, 'handshake-failure');
  const s = netConnect(inB.port, '127.0.0.1');
  s.write(helloBytes);
  s.resume();
  s.on('error', () => undefined);
  t.is((await failure).reason, 'handshake_timeout');
  await once(s, 'close', { signal: AbortSignal.timeout(5000) });
});

test('idle timeout closes a quiet connection', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, false, undefined, { idleMs: 200 });
  const closedEv = waitForEvent<ConnectionClosed>(b.events, 'connection-closed');
  const s = netConnect(inB.port, '127.0.0.1');
  s.write('x');
  await once(s, 'data', { signal: AbortSignal.timeout(5000) });
  const ev = await closedEv;
  t.true(ev.idleTimedOut);
  t.is(ev.tlsMode, 'plaintext');
});

test('a server-first protocol works: after the first-bytes timeout a silent client is plaintext', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = createServer((s) => s.end('220 greeting from the server\r\n'));
  const appPort = await listenOn(app);
  t.teardown(() => closeServer(app));
  const inB = await b.inbound(appPort, false, undefined, { firstBytesMs: 100 });
  const s = netConnect(inB.port, '127.0.0.1');
  t.is((await readAll(s)).toString(), '220 greeting from the server\r\n');
});

test('the policy hook can refuse plaintext (STRICT): reason plaintext_refused', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, false, (kind) => (kind === 'mesh-mtls' ? 'accept' : 'refuse'));
  const failure = waitForEvent<HandshakeFailure>(b.events, 'handshake-failure');
  const s = netConnect(inB.port, '127.0.0.1');
  s.write('GET / HTTP/1.1\r\n\r\n');
  t.is((await readAll(s)).length, 0);
  t.is((await failure).reason, 'plaintext_refused');
  t.is(app.sockets.size, 0);
});

test('no certificate yet: mesh connections are refused with no_identity', async (t) => {
  const b = sidecar(undefined);
  t.teardown(() => b.stop());
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, false);
  const failure = waitForEvent<HandshakeFailure>(b.events, 'handshake-failure');
  const c = tlsConnect({ port: inB.port, host: '127.0.0.1', ALPNProtocols: ['mtls-mesh'], rejectUnauthorized: false });
  c.on('error', () => undefined);
  t.is((await failure).reason, 'no_identity');
});
