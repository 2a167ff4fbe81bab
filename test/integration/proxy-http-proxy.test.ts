import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { ConnectionAccepted } from '../../proxy/src/events.js';
import type { ResolvedDestination } from '../../proxy/src/resolver.js';
import { createPkiSet, spiffe, type LeafMaterial, type PkiSet } from '../helpers/openssl-pki.js';
import { closeServer, listenOn, startEchoApp, startHttpApp, waitForEvent, type SeenRequest } from '../helpers/proxy-harness.js';
import { sidecar } from '../helpers/proxy-sidecars.js';

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

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Reads `n` Content-Length-framed responses (or until close) off a raw socket. */
function readResponses(s: Socket, n: number): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const out: RawResponse[] = [];
    const signal = AbortSignal.timeout(5000);
    signal.addEventListener('abort', () => reject(new Error(`got ${out.length}/${n} responses: ${buf.toString()}`)), { once: true });
    const parse = (): void => {
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
        }
        const len = Number(headers['content-length'] ?? 0);
        if (buf.length < end + 4 + len) return;
        out.push({ status: Number(lines[0]?.split(' ')[1]), headers, body: buf.subarray(end + 4, end + 4 + len).toString('utf8') });
        buf = buf.subarray(end + 4 + len);
        if (out.length === n) {
          s.removeListener('data', onData);
          resolve(out);
          return;
        }
      }
    };
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      parse();
    };
    s.on('data', onData);
    s.on('error', () => undefined);
    s.once('close', () => reject(new Error(`closed after ${out.length}/${n} responses: ${buf.toString()}`)));
  });
}

async function setup(t: ExecutionContext) {
  const a = sidecar(pki.mesh.snapshot(leafA));
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  const meshApp = await startHttpApp();
  const legacyApp = await startHttpApp();
  const echo = await startEchoApp();
  t.teardown(() => meshApp.close());
  t.teardown(() => legacyApp.close());
  t.teardown(() => echo.close());
  const inHttp = await b.inbound(meshApp.port, true);
  const inEcho = await b.inbound(echo.port, false);
  const table: Record<string, ResolvedDestination> = {
    'httpbin.foo:8000': { address: { host: '127.0.0.1', port: inHttp.port }, hasSidecar: true, expectedIds: [ID_B] },
    'legacy.bar:80': { address: { host: '127.0.0.1', port: legacyApp.port }, hasSidecar: false, expectedIds: [] },
    'echo.foo:7': { address: { host: '127.0.0.1', port: inEcho.port }, hasSidecar: true, expectedIds: [ID_B] },
  };
  const proxy = await a.httpProxy(table);
  const client = netConnect(proxy.port, '127.0.0.1');
  t.teardown(() => void client.destroy());
  await once(client, 'connect');
  return { a, b, meshApp, legacyApp, echo, proxy, client };
}

test('absolute-form request: resolved, sent in origin-form over mTLS, the app sees the caller', async (t) => {
  const { a, meshApp, client } = await setup(t);
  const accepted = waitForEvent<ConnectionAccepted>(a.events, 'connection-accepted');
  client.write('GET http://httpbin.foo:8000/headers?x=1 HTTP/1.1\r\nHost: httpbin.foo:8000\r\nProxy-Connection: keep-alive\r\nx-forwarded-client-cert: spoof\r\n\r\n');
  const [r] = await readResponses(client, 1);
  t.is(r?.status, 200);
  const seen = JSON.parse(r?.body ?? '{}') as SeenRequest;
  t.is(seen.url, '/headers?x=1');
  t.is(seen.headers.host, 'httpbin.foo:8000');
  t.is(seen.headers['proxy-connection'], undefined);
  t.is(seen.headers['x-forwarded-client-cert'], `By=${ID_B};URI=${ID_A}`);
  t.is(meshApp.seen.length, 1);
  const ev = await accepted;
  t.is(ev.tlsMode, 'mtls');
  t.is(ev.peerId, ID_B);
});

test('unknown service: 502 naming it', async (t) => {
  const { client } = await setup(t);
  client.write('GET http://nope.bar/ HTTP/1.1\r\nHost: nope.bar\r\n\r\n');
  const [r] = await readResponses(client, 1);
  t.is(r?.status, 502);
  t.regex(r?.body ?? '', /unknown service nope\.bar:80/);
});

test('keep-alive: same host reuses the upstream, another host gets a new one, responses stay in order', async (t) => {
  const { a, meshApp, legacyApp, client } = await setup(t);
  const accepted: ConnectionAccepted[] = [];
  a.events.on('connection-accepted', (e) => accepted.push(e));
  // Pipelined in one write: the proxy must hold the request for legacy.bar until httpbin's responses are relayed.
  client.write(
    'GET http://httpbin.foo:8000/one HTTP/1.1\r\nHost: httpbin.foo:8000\r\n\r\n' +
      'POST http://httpbin.foo:8000/two HTTP/1.1\r\nHost: httpbin.foo:8000\r\nContent-Length: 5\r\n\r\nhello' +
      'GET http://legacy.bar/three HTTP/1.1\r\nHost: legacy.bar\r\n\r\n' +
      'POST http://httpbin.foo:8000/four HTTP/1.1\r\nHost: httpbin.foo:8000\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  );
  const rs = await readResponses(client, 4);
  const seen = rs.map((r) => JSON.parse(r.body) as SeenRequest);
  t.deepEqual(seen.map((s) => s.url), ['/one', '/two', '/three', '/four']);
  t.is(seen[1]?.body, 'hello');
  t.is(seen[3]?.body, 'abc');
  t.is(seen[2]?.headers['x-forwarded-client-cert'], undefined);
  t.is(seen[3]?.headers['x-forwarded-client-cert'], `By=${ID_B};URI=${ID_A}`);
  t.is(meshApp.seen.length, 3);
  t.is(legacyApp.seen.length, 1);
  t.deepEqual(accepted.map((e) => e.tlsMode), ['mtls', 'plaintext', 'mtls']);
});

test('CONNECT opens a tunnel over mTLS', async (t) => {
  const { client } = await setup(t);
  client.write('CONNECT echo.foo:7 HTTP/1.1\r\nHost: echo.foo:7\r\n\r\nearly');
  let buf = '';
  while (!buf.includes('early')) {
    const [c] = (await once(client, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    buf += c.toString();
  }
  t.true(buf.startsWith('HTTP/1.1 200 Connection Established\r\n\r\n'));
  client.write('GET / HTTP/1.1\r\n\r\n');
  const [c2] = (await once(client, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
  t.is(c2.toString(), 'GET / HTTP/1.1\r\n\r\n');
});

test('a bad request gets 400 and the connection closes', async (t) => {
  const { client } = await setup(t);
  client.write('GET http://httpbin.foo:8000/ HTTP/1.1\r\nHost: httpbin.foo:8000\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
  const [r] = await readResponses(client, 1);
  t.is(r?.status, 400);
  t.regex(r?.body ?? '', /Transfer-Encoding and Content-Length/);
});

test('inbound HTTP port: an accepted Upgrade switches to a raw pipe in both directions', async (t) => {
  const a = sidecar(pki.mesh.snapshot(leafA));
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  const seenXfcc: (string | undefined)[] = [];
  const app = createHttpServer((req, res) => {
    seenXfcc.push(req.headers['x-forwarded-client-cert'] as string | undefined);
    res.end('plain');
  });
  app.on('upgrade', (req, socket: Socket, head: Buffer) => {
    seenXfcc.push(req.headers['x-forwarded-client-cert'] as string | undefined);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  const appPort = await listenOn(app);
  t.teardown(() => {
    app.closeAllConnections();
    return closeServer(app);
  });
  const inB = await b.inbound(appPort, true);
  const upA = await a.upstream('ws.foo', 80, { 'ws.foo:80': { address: { host: '127.0.0.1', port: inB.port }, hasSidecar: true, expectedIds: [ID_B] } });
  const s = netConnect(upA.port, '127.0.0.1');
  t.teardown(() => void s.destroy());
  s.write('GET /a HTTP/1.1\r\nHost: ws.foo\r\n\r\n');
  const [plain] = await readResponses(s, 1);
  t.is(plain?.body, 'plain');
  s.write('GET /ws HTTP/1.1\r\nHost: ws.foo\r\nConnection: Upgrade\r\nUpgrade: echo\r\nx-forwarded-client-cert: spoof\r\n\r\n');
  let buf = '';
  while (!buf.includes('\r\n\r\n')) {
    const [c] = (await once(s, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    buf += c.toString();
  }
  t.true(buf.startsWith('HTTP/1.1 101'));
  // After the switch the bytes are not HTTP any more and must pass untouched.
  const raw = 'GET /not-http HTTP/1.1\r\nx-forwarded-client-cert: raw\r\n\r\n';
  s.write(raw);
  let echoed = '';
  while (echoed.length < raw.length) {
    const [c] = (await once(s, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    echoed += c.toString();
  }
  t.is(echoed, raw);
  t.deepEqual(seenXfcc, [`By=${ID_B};URI=${ID_A}`, `By=${ID_B};URI=${ID_A}`]);
});

test('inbound HTTP port: a smuggling-shaped request gets 400 and never reaches the app', async (t) => {
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => b.stop());
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const inB = await b.inbound(app.port, true);
  const s = netConnect(inB.port, '127.0.0.1');
  t.teardown(() => void s.destroy());
  s.write('GET /ok HTTP/1.1\r\nHost: a\r\n\r\n');
  const [ok] = await readResponses(s, 1);
  t.is(ok?.status, 200);
  s.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n');
  const [r] = await readResponses(s, 1);
  t.is(r?.status, 400);
  t.is(r?.headers.connection, 'close');
  t.deepEqual(app.seen.map((x) => x.url), ['/ok']);
});
