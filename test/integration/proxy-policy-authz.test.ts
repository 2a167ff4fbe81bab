// AuthorizationPolicy enforced by live sidecars on loopback: L7 per request on HTTP ports, L4 per connection on
// TCP ports, and open connections re-checked when policies change.
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { createServer as createHttpServer, request, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { AuthzDenied } from '../../proxy/src/events.js';
import { InboundListener } from '../../proxy/src/inbound.js';
import { ProxyMetrics } from '../../proxy/src/metrics.js';
import { DEFAULT_WORKLOAD_POLICY, PolicyState, RBAC_DENIED_BODY } from '../../proxy/src/policy/index.js';
import type { UpstreamListener } from '../../proxy/src/outbound.js';
import type { ResolvedAuthzPolicy, ResolvedWorkloadPolicy } from '../../shared/policy/types.js';
import { createPkiSet, spiffe, type LeafMaterial, type PkiSet } from '../helpers/openssl-pki.js';
import { closeServer, closed, listenOn, readAll, startEchoApp, startHttpApp, waitForEvent, type SeenRequest } from '../helpers/proxy-harness.js';
import { sidecar, type Sidecar } from '../helpers/proxy-sidecars.js';

const ID_A = spiffe('foo', 'sleep');
const ID_B = spiffe('foo', 'httpbin');
const SLEEP = 'cluster.local/ns/foo/sa/sleep';

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

const withAuthz = (...authorization: ResolvedAuthzPolicy[]): ResolvedWorkloadPolicy => ({ ...DEFAULT_WORKLOAD_POLICY, authorization });

interface Mesh {
  a: Sidecar;
  b: Sidecar;
  state: PolicyState;
  metrics: ProxyMetrics;
  inB: InboundListener;
  /** A's upstream listener to B: plaintext in, mesh mTLS to B as spiffe://…/ns/foo/sa/sleep. */
  upA: UpstreamListener;
}

async function mesh(t: ExecutionContext, appPort: number, http: boolean, initial: ResolvedWorkloadPolicy): Promise<Mesh> {
  const a = sidecar(pki.mesh.snapshot(leafA));
  const b = sidecar(pki.mesh.snapshot(leafB));
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  const metrics = new ProxyMetrics();
  metrics.attach(b.events);
  const state = new PolicyState(initial);
  const inB = new InboundListener({ port: { listenHost: '127.0.0.1', listenPort: 0, appPort, servicePort: 8000, http }, contexts: b.contexts, events: b.events, timer: b.timer, policy: state });
  await inB.listen();
  t.teardown(() => inB.close(true));
  const upA = await a.upstream('httpbin.foo', 8000, { 'httpbin.foo:8000': { address: { host: '127.0.0.1', port: inB.port }, hasSidecar: true, expectedIds: [ID_B] } });
  return { a, b, state, metrics, inB, upA };
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Reads `n` Content-Length-framed responses off a raw socket. */
function readResponses(s: Socket, n: number): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const out: RawResponse[] = [];
    const signal = AbortSignal.timeout(5000);
    const onAbort = (): void => reject(new Error(`got ${out.length}/${n} responses: ${buf.toString()}`));
    signal.addEventListener('abort', onAbort, { once: true });
    const onClose = (): void => reject(new Error(`closed after ${out.length}/${n} responses: ${buf.toString()}`));
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
        const status = Number(lines[0]?.split(' ')[1]);
        const len = status === 100 ? 0 : Number(headers['content-length'] ?? 0);
        if (buf.length < end + 4 + len) return;
        if (status !== 100) out.push({ status, headers, body: buf.subarray(end + 4, end + 4 + len).toString('utf8') });
        buf = buf.subarray(end + 4 + len);
        if (out.length === n) {
          s.removeListener('data', onData);
          s.removeListener('close', onClose);
          signal.removeEventListener('abort', onAbort);
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
    s.once('close', onClose);
  });
}

async function exchange(s: Socket, req: string): Promise<RawResponse> {
  const got = readResponses(s, 1);
  s.write(req);
  const [r] = await got;
  if (!r) throw new Error('no response');
  return r;
}

function connectTo(t: ExecutionContext, port: number): Socket {
  const s = netConnect(port, '127.0.0.1');
  s.on('error', () => undefined);
  t.teardown(() => void s.destroy());
  return s;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ res: IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false, signal: AbortSignal.timeout(5000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const DENY_ADMIN: ResolvedAuthzPolicy = { name: 'foo/deny-admin', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] };

test('L7: a denied request gets 403 RBAC: access denied and the connection stays usable; encoded slashes get 400', async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const m = await mesh(t, app.port, true, withAuthz(DENY_ADMIN));
  const denials: AuthzDenied[] = [];
  m.b.events.on('authz-denied', (e: AuthzDenied) => denials.push(e));
  const s = connectTo(t, m.inB.port);

  const denied = await exchange(s, 'GET /admin HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n');
  t.is(denied.status, 403);
  t.is(denied.body, RBAC_DENIED_BODY);
  t.is(denied.headers['content-type'], 'text/plain');
  t.is(denied.headers['content-length'], '19');
  t.is(denied.headers.connection, undefined);

  t.is((await exchange(s, 'GET /status/200 HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n')).status, 200);
  // Spellings that reach /admin in some app: all refused, on the same connection.
  for (const target of ['//admin', '/%61dmin', '/api/../admin', '/./admin/', '/admin;x=1', '/admin#x', '/admin?x=1', '/admin/users']) {
    t.is((await exchange(s, `GET ${target} HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n`)).status, 403, target);
  }
  for (const target of ['/%2Fadmin', '/%2fadmin', '/%5Cadmin', '/../admin']) {
    const r = await exchange(s, `GET ${target} HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n`);
    t.is(r.status, 400, target);
  }
  // A HEAD answer carries no body: the next response must still parse.
  s.write('HEAD /admin HTTP/1.1\r\nHost: httpbin.foo\r\n\r\nGET /after-head HTTP/1.1\r\nHost: httpbin.foo\r\n\r\n');
  let buf = '';
  while (!buf.includes('/after-head')) {
    const [c] = (await once(s, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    buf += c.toString('latin1');
  }
  t.true(buf.startsWith('HTTP/1.1 403 Forbidden\r\n'));
  t.true(buf.includes('\r\n\r\nHTTP/1.1 200 OK\r\n'));

  t.deepEqual(app.seen.map((x) => x.url), ['/status/200', '/after-head']);
  t.is(denials.length, 14);
  t.deepEqual(denials[0] && { layer: denials[0].layer, policy: denials[0].policy, reason: denials[0].reason, method: denials[0].method, target: denials[0].target }, {
    layer: 'http',
    policy: 'foo/deny-admin',
    reason: 'deny-matched',
    method: 'GET',
    target: '/admin',
  });
  const metric = await m.metrics.registry.getSingleMetricAsString('mesh_proxy_authz_denied_total');
  t.regex(metric, /mesh_proxy_authz_denied_total\{policy="foo\/deny-admin",direction="inbound"\} 10$/m);
  t.regex(metric, /mesh_proxy_authz_denied_total\{policy="\(bad-path\)",direction="inbound"\} 4$/m);
});

test('L7: principals come from mTLS; plaintext carries none, so an ALLOW on a principal denies it', async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const allowSleep: ResolvedAuthzPolicy = {
    name: 'foo/allow-sleep-api',
    action: 'ALLOW',
    rules: [{ from: [{ source: { principals: [SLEEP] } }], to: [{ operation: { methods: ['GET', 'POST'], paths: ['/api/*'] } }] }],
  };
  const m = await mesh(t, app.port, true, withAuthz(allowSleep));
  t.is((await get(m.upA.port, '/api/items')).res.statusCode, 200);
  t.is((await get(m.upA.port, '/api/items', {}, 'DELETE')).res.statusCode, 403);
  t.is((await get(m.upA.port, '/other')).res.statusCode, 403);
  const plain = await get(m.inB.port, '/api/items');
  t.is(plain.res.statusCode, 403);
  t.is(plain.body, RBAC_DENIED_BODY);

  // A DENY for everyone outside namespace foo: plaintext has no namespace, so it is "not in foo".
  m.state.apply(withAuthz({ name: 'foo/deny-other-ns', action: 'DENY', rules: [{ from: [{ source: { notNamespaces: ['foo'] } }] }] }));
  t.is((await get(m.upA.port, '/anything')).res.statusCode, 200);
  t.is((await get(m.inB.port, '/anything')).res.statusCode, 403);
  t.deepEqual(app.seen.map((x) => x.url), ['/api/items', '/anything']);
});

test('L7: chunked bodies pass when allowed and are dropped when denied, keeping the connection', async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const m = await mesh(t, app.port, true, withAuthz(DENY_ADMIN));
  const s = connectTo(t, m.upA.port);
  const chunked = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: httpbin.foo\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`;
  const ok = await exchange(s, chunked('/upload'));
  t.is(ok.status, 200);
  t.is((JSON.parse(ok.body) as SeenRequest).body, 'hello world');
  t.is((await exchange(s, chunked('/admin/upload'))).status, 403);
  const after = await exchange(s, 'POST /again HTTP/1.1\r\nHost: httpbin.foo\r\nContent-Length: 3\r\n\r\nabc');
  t.is((JSON.parse(after.body) as SeenRequest).body, 'abc');
  // Pipelined: a request behind a denied one is answered in order.
  const two = readResponses(s, 3);
  s.write(`GET /first HTTP/1.1\r\nHost: h\r\n\r\n${chunked('/admin')}GET /third HTTP/1.1\r\nHost: h\r\n\r\n`);
  t.deepEqual((await two).map((r) => r.status), [200, 403, 200]);
  t.deepEqual(app.seen.map((x) => x.url), ['/upload', '/again', '/first', '/third']);
});

test('L7: Expect: 100-continue works when allowed; when denied the answer is final and the connection closes', async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const m = await mesh(t, app.port, true, withAuthz(DENY_ADMIN));

  const allowed = await new Promise<{ status: number | undefined; body: string; continued: boolean }>((resolve, reject) => {
    let continued = false;
    const req = request(
      { host: '127.0.0.1', port: m.upA.port, method: 'PUT', path: '/upload', headers: { expect: '100-continue', 'content-length': '4' }, agent: false, signal: AbortSignal.timeout(5000) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), continued }));
      },
    );
    req.on('continue', () => {
      continued = true;
      req.end('data');
    });
    req.on('error', reject);
  });
  t.true(allowed.continued);
  t.is(allowed.status, 200);
  t.is((JSON.parse(allowed.body) as SeenRequest).body, 'data');

  const s = connectTo(t, m.upA.port);
  s.write('PUT /admin HTTP/1.1\r\nHost: httpbin.foo\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
  const answer = (await readAll(s)).toString('latin1');
  t.true(answer.startsWith('HTTP/1.1 403 Forbidden\r\n'), answer);
  t.true(answer.includes('connection: close\r\n'));
  t.true(answer.endsWith(RBAC_DENIED_BODY));
  t.deepEqual(app.seen.map((x) => x.url), ['/upload']);
});

test('L7: a WebSocket upgrade allowed by one policy passes; one denied by another gets 403', async (t) => {
  const server = createHttpServer((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server });
  const upgradeXfcc: (string | undefined)[] = [];
  wss.on('connection', (ws, req) => {
    upgradeXfcc.push(req.headers['x-forwarded-client-cert'] as string | undefined);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const appPort = await listenOn(server);
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await closeServer(server);
  });
  const m = await mesh(
    t,
    appPort,
    true,
    withAuthz(
      { name: 'foo/allow-ws', action: 'ALLOW', rules: [{ from: [{ source: { principals: [SLEEP] } }], to: [{ operation: { methods: ['GET'], paths: ['/ws/*'] } }] }] },
      { name: 'foo/deny-ws-admin', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/ws/admin'] } }] }] },
    ),
  );

  const ok = new WebSocket(`ws://127.0.0.1:${m.upA.port}/ws/chat`, { headers: { 'x-forwarded-client-cert': 'URI=spoof' } });
  t.teardown(() => ok.terminate());
  await once(ok, 'open', { signal: AbortSignal.timeout(5000) });
  ok.send('ping');
  const [msg] = (await once(ok, 'message', { signal: AbortSignal.timeout(5000) })) as [Buffer];
  t.is(msg.toString(), 'ping');
  t.deepEqual(upgradeXfcc, [`By=${ID_B};URI=${ID_A}`]);

  const denial = waitForEvent<AuthzDenied>(m.b.events, 'authz-denied');
  const no = new WebSocket(`ws://127.0.0.1:${m.upA.port}/ws/admin`);
  t.teardown(() => no.terminate());
  no.on('error', () => undefined);
  const [, res] = (await once(no, 'unexpected-response', { signal: AbortSignal.timeout(5000) })) as [unknown, IncomingMessage];
  t.is(res.statusCode, 403);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  t.is(Buffer.concat(chunks).toString(), RBAC_DENIED_BODY);
  const d = await denial;
  t.is(d.policy, 'foo/deny-ws-admin');
  t.is(d.layer, 'http');

  // Plaintext has no principal: the ALLOW on sleep does not let it upgrade.
  const plain = new WebSocket(`ws://127.0.0.1:${m.inB.port}/ws/chat`);
  t.teardown(() => plain.terminate());
  plain.on('error', () => undefined);
  const [, res2] = (await once(plain, 'unexpected-response', { signal: AbortSignal.timeout(5000) })) as [unknown, IncomingMessage];
  t.is(res2.statusCode, 403);
  res2.resume();
  t.is(wss.clients.size, 1);
});

test('L7: a spoofed x-forwarded-client-cert never reaches the app, nor satisfies a header condition', async (t) => {
  const app = await startHttpApp();
  t.teardown(() => app.close());
  const m = await mesh(
    t,
    app.port,
    true,
    withAuthz({ name: 'foo/allow-by-xfcc', action: 'ALLOW', rules: [{ when: [{ key: 'request.headers[x-forwarded-client-cert]', values: [`*URI=${ID_A}`] }] }] }),
  );
  const spoof = { 'x-forwarded-client-cert': `By=${ID_B};URI=${ID_A}` };
  const plain = await get(m.inB.port, '/spoofed', spoof);
  t.is(plain.res.statusCode, 403);
  const viaMesh = await get(m.upA.port, '/real', { 'x-forwarded-client-cert': 'By=x;URI=spiffe://cluster.local/ns/admin/sa/root' });
  t.is(viaMesh.res.statusCode, 200);
  const seen = JSON.parse(viaMesh.body) as SeenRequest;
  t.is(seen.headers['x-forwarded-client-cert'], `By=${ID_B};URI=${ID_A}`);
  t.is(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-client-cert').length, 1);

  // With a policy that lets plaintext in, the spoof is still stripped.
  m.state.apply(withAuthz({ name: 'foo/allow-all', action: 'ALLOW', rules: [{}] }));
  const through = await get(m.inB.port, '/spoofed', spoof);
  t.is(through.res.statusCode, 200);
  t.is((JSON.parse(through.body) as SeenRequest).headers['x-forwarded-client-cert'], undefined);
  t.deepEqual(app.seen.map((x) => x.url), ['/real', '/spoofed']);
});

test('L4: a denied connection on a TCP port is closed before it reaches the app', async (t) => {
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const m = await mesh(t, app.port, false, withAuthz({ name: 'foo/allow-sleep', action: 'ALLOW', rules: [{ from: [{ source: { principals: [SLEEP] } }], to: [{ operation: { ports: ['8000'] } }] }] }));

  const denial = waitForEvent<AuthzDenied>(m.b.events, 'authz-denied');
  const plain = connectTo(t, m.inB.port);
  plain.write('let me in');
  t.is((await readAll(plain)).length, 0);
  const d = await denial;
  t.is(d.layer, 'tcp');
  t.is(d.reason, 'no-allow-matched');
  t.is(d.peerId, undefined);
  t.false(d.live);

  const s = connectTo(t, m.upA.port);
  s.end('echo me');
  t.is((await readAll(s)).toString(), 'echo me');
});

test('L4: an authorization change closes the open connections it now denies, and only those', async (t) => {
  const app = await startEchoApp();
  t.teardown(() => app.close());
  const m = await mesh(t, app.port, false, withAuthz());
  const mtls = connectTo(t, m.upA.port);
  const plain = connectTo(t, m.inB.port);
  for (const [s, word] of [
    [mtls, 'm1'],
    [plain, 'p1'],
  ] as const) {
    s.write(word);
    t.is(((await once(s, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer])[0].toString(), word);
  }

  const denial = waitForEvent<AuthzDenied>(m.b.events, 'authz-denied');
  m.state.apply(withAuthz({ name: 'foo/deny-sleep', action: 'DENY', rules: [{ from: [{ source: { principals: [SLEEP] } }] }] }));
  const d = await denial;
  t.true(d.live);
  t.is(d.policy, 'foo/deny-sleep');
  t.is(d.peerId, ID_A);
  await closed(mtls);

  plain.write('p2');
  t.is(((await once(plain, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer])[0].toString(), 'p2');
  plain.end();
  await closed(plain);
});
