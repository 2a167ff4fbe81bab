import test from 'ava';
import { connect } from 'node:net';
import { once } from 'node:events';
import { startHttpbin } from '../../loadtest/apps/httpbin.js';
import { LocalMesh, type LocalProxy } from '../../loadtest/mesh/local-mesh.js';

// Requests are written byte for byte on a raw socket: an HTTP client library could "fix" them first.
async function raw(port: number, requestLine: string, host: string): Promise<number> {
  const sock = connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.end(`${requestLine}\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  let data = '';
  sock.on('data', (c: Buffer) => (data += c.toString('latin1')));
  await once(sock, 'close', { signal: AbortSignal.timeout(10_000) });
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
}

let mesh: LocalMesh;
let client: LocalProxy;
let server: LocalProxy;
let closeApp: () => Promise<void>;

test.before(async () => {
  const app = await startHttpbin();
  closeApp = () => app.close();
  mesh = await LocalMesh.start();
  server = await mesh.addProxy('httpbin', { namespace: 'foo', serviceAccount: 'httpbin', services: ['httpbin'], labels: { app: 'httpbin' }, inbound: [{ port: 8000, protocol: 'http', appPort: app.port }] });
  client = await mesh.addProxy('sleep', { namespace: 'bar', serviceAccount: 'sleep', outbound: true });
  const res = await mesh.api('POST', '/api/v1/apply?wait=20s', {
    documents: [
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'deny-admin', namespace: 'foo' },
        spec: { selector: { matchLabels: { app: 'httpbin' } }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }] },
      },
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'deny-outsiders', namespace: 'foo' },
        spec: { selector: { matchLabels: { app: 'httpbin' } }, action: 'DENY', rules: [{ from: [{ source: { notNamespaces: ['foo', 'bar'] } }], to: [{ operation: { paths: ['/private/*'] } }] }] },
      },
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'deny-host', namespace: 'foo' },
        spec: { selector: { matchLabels: { app: 'httpbin' } }, action: 'DENY', rules: [{ to: [{ operation: { hosts: ['httpbin.foo'], paths: ['/host-only'] } }] }] },
      },
    ],
  });
  const body = (await res.json()) as { converged?: boolean };
  if (body.converged !== true) throw new Error(`policies did not converge: ${JSON.stringify(body)}`);
});
test.after.always(async () => {
  await mesh?.stop();
  await closeApp?.();
});

const viaSidecar = (target: string, host = 'httpbin.foo:8000') => raw(client.outboundPort ?? 0, `GET http://httpbin.foo:8000${target} HTTP/1.1`, host);
const plaintext = (target: string, host = 'httpbin.foo:8000') => raw(Number((server.inbound.get(8000) ?? ':0').split(':')[1]), `GET ${target} HTTP/1.1`, host);

test('path tricks that slipped past rules in other meshes do not reach /admin', async (t) => {
  t.is(await viaSidecar('/ip'), 200, 'control: an ordinary request passes');
  t.is(await viaSidecar('/admin'), 403);
  for (const target of ['//admin', '/./admin', '/x/../admin', '/%61dmin', '/admin/', '/admin;x=1', '/admin/..;/admin', '/admin?x=1']) {
    t.is(await viaSidecar(target), 403, `${target} is the same path as /admin`);
  }
  for (const target of ['/%2Fadmin', '/%2fadmin', '/%5Cadmin', '/..%2Fadmin', '/../admin']) {
    t.is(await viaSidecar(target), 400, `${target} is refused outright`);
  }
  // Plaintext (no sidecar) gets the same treatment on the server side.
  t.is(await plaintext('//admin'), 403);
  t.is(await plaintext('/admin#x'), 403, 'a fragment never takes part in matching (CVE-2021-39156)');
  // Case: paths are case-sensitive by design (documented); /ADMIN is another path for the rule.
  t.is(await plaintext('/ADMIN'), 404, 'documented: /ADMIN does not match a rule on /admin (httpbin answers 404 for it)');
});

test('host matching ignores case and port (CVE-2021-39155)', async (t) => {
  t.is(await plaintext('/host-only', 'httpbin.foo:8000'), 403);
  t.is(await plaintext('/host-only', 'Httpbin.Foo'), 403);
  t.is(await plaintext('/host-only', 'HTTPBIN.FOO.'), 403);
  t.is(await plaintext('/host-only', 'other.example'), 404, 'another host is not matched by the rule');
});

test('a DENY on notNamespaces denies plaintext: absent identity is not in the list (ISTIO-SECURITY-2021-004)', async (t) => {
  t.is(await plaintext('/private/x'), 403);
  t.is(await viaSidecar('/private/x'), 404, 'bar is in the list: not denied (httpbin answers 404)');
});
