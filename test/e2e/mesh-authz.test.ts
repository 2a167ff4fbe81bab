import test from 'ava';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, WebSocket } from 'ws';
import { LocalMesh, type LocalProxy } from '../../loadtest/mesh/local-mesh.js';
import { BIN, runProcess } from '../../loadtest/mesh/process.js';

const YAML = fileURLToPath(new URL('../../../loadtest/scenarios/authz/', import.meta.url));

/** The API service: 200 with method and path for anything, and a WebSocket echo on /api/ws. */
async function startApi(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ method: req.method, path: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const wss = new WebSocketServer({ server, path: '/api/ws' });
  wss.on('connection', (ws) => ws.on('message', (m: Buffer) => ws.send(`echo:${m.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

function call(client: LocalProxy, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: client.outboundPort, method, path: `http://api-service.my-namespace:8080${path}`, headers: { host: 'api-service.my-namespace:8080' }, agent: false, signal: AbortSignal.timeout(10_000) },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function websocket(client: LocalProxy): Promise<string> {
  const port = client.upstreams.get('api-service.my-namespace:8080') ?? 0;
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/ws`, { headers: { host: 'api-service.my-namespace:8080' }, handshakeTimeout: 10_000 });
    ws.on('open', () => ws.send('hi'));
    ws.on('message', (m: Buffer) => {
      resolve(m.toString());
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(`rejected ${res.statusCode ?? 0}`);
      res.resume();
    });
    ws.on('error', (e) => resolve(`error ${e.message}`));
  });
}

async function meshctl(mesh: LocalMesh, args: string[]): Promise<void> {
  const r = await runProcess(BIN.meshctl, [...args, '--wait', '30s', '--control-plane', mesh.httpUrl], { MESH_ADMIN_TOKEN: mesh.adminToken });
  if (r.code !== 0) throw new Error(`meshctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

test('the operations guide: deny-all, then allow-frontend-to-api and allow-monitoring, WebSocket included', async (t) => {
  const api = await startApi();
  const mesh = await LocalMesh.start();
  t.teardown(async () => {
    await mesh.stop();
    api.server.closeAllConnections();
    api.server.close();
  });
  await mesh.addProxy('api', { namespace: 'my-namespace', serviceAccount: 'api-service', services: ['api-service'], labels: { app: 'api-service' }, inbound: [{ port: 8080, protocol: 'http', appPort: api.port }] });
  const upstream = ['api-service.my-namespace:8080'];
  const frontend = await mesh.addProxy('frontend', { namespace: 'frontend', serviceAccount: 'frontend-service', outbound: true, upstreams: upstream });
  const monitoring = await mesh.addProxy('monitoring', { namespace: 'monitoring', serviceAccount: 'prometheus', outbound: true, upstreams: upstream });
  const other = await mesh.addProxy('other', { namespace: 'other', serviceAccount: 'batch', outbound: true });

  t.is((await call(frontend, 'GET', '/api/items')).status, 200, 'no policy: allowed');

  await meshctl(mesh, ['apply', '-f', `${YAML}deny-all.yaml`]);
  const denied = await call(frontend, 'GET', '/api/items');
  t.deepEqual([denied.status, denied.body], [403, 'RBAC: access denied']);
  t.is((await call(monitoring, 'GET', '/metrics')).status, 403);
  t.is(await websocket(frontend), 'rejected 403');

  await meshctl(mesh, ['apply', '-f', `${YAML}allow-paths.yaml`]);
  const cases: [LocalProxy, string, string, number][] = [
    [frontend, 'GET', '/api/items', 200],
    [frontend, 'POST', '/api/items', 200],
    [frontend, 'DELETE', '/api/items', 403],
    [frontend, 'GET', '/metrics', 403],
    [frontend, 'GET', '/api', 403],
    [monitoring, 'GET', '/metrics', 200],
    [monitoring, 'GET', '/health', 200],
    [monitoring, 'GET', '/api/items', 403],
    [other, 'GET', '/api/items', 403],
    [other, 'GET', '/metrics', 403],
    // Bypass attempts against the rules above.
    [monitoring, 'GET', '/api/../metrics', 200],
    [monitoring, 'GET', '/%6detrics', 200],
    [frontend, 'GET', '//api/items', 200],
    [monitoring, 'GET', '/health/../api/items', 403],
    [monitoring, 'GET', '/%2Fapi/items', 400],
    [monitoring, 'GET', '/metrics#/api/x', 200],
  ];
  for (const [client, method, path, want] of cases) {
    t.is((await call(client, method, path)).status, want, `${client.name} ${method} ${path}`);
  }
  t.is(await websocket(frontend), 'echo:hi', 'the frontend may open a WebSocket on /api/ws (GET on /api/*)');
  t.is(await websocket(monitoring), 'rejected 403', 'monitoring may not');
});
