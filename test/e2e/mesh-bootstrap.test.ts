import test from 'ava';
import { startHttpbin } from '../../loadtest/apps/httpbin.js';
import { httpGet, forwardedClientCert } from '../../loadtest/apps/sleep.js';
import { LocalMesh } from '../../loadtest/mesh/local-mesh.js';
import { runProcess } from '../../loadtest/mesh/process.js';
import { fileURLToPath } from 'node:url';

test('a proxy started while the control plane is down is not ready, keeps retrying, and becomes ready when it is back', async (t) => {
  const app = await startHttpbin();
  const mesh = await LocalMesh.start();
  t.teardown(async () => {
    await mesh.stop();
    await app.close();
  });
  const tokenFile = await mesh.tokenFile('httpbin', 'foo', 'httpbin');
  await mesh.stopControlPlane();
  const launched = mesh.launchProxy('httpbin', { namespace: 'foo', serviceAccount: 'httpbin', services: ['httpbin'], inbound: [{ port: 8000, protocol: 'http', appPort: app.port }] }, tokenFile);
  const listening = await launched.listening;
  await launched.process.next('rotation-failed', 30_000);
  await launched.process.next('rotation-failed', 30_000);
  const notReady = await fetch(`http://127.0.0.1:${String(listening.admin)}/ready`);
  t.is(notReady.status, 503);
  t.regex(await notReady.text(), /no certificate yet/);

  await mesh.startControlPlane();
  const proxy = await launched.ready;
  t.is((await fetch(`http://127.0.0.1:${proxy.adminPort}/ready`)).status, 200);
  t.is(proxy.spiffeId, 'spiffe://cluster.local/ns/foo/sa/httpbin');

  // And it serves: a client sidecar started now reaches it over mTLS.
  const sleep = await mesh.addProxy('sleep', { namespace: 'bar', serviceAccount: 'sleep', outbound: true });
  const res = await httpGet('http://httpbin.foo:8000/headers', { host: '127.0.0.1', port: sleep.outboundPort ?? 0 });
  t.is(res.status, 200);
  t.is(forwardedClientCert(res.body)?.uri, 'spiffe://cluster.local/ns/bar/sa/sleep');
});

test('a proxy may not register a service in another namespace', async (t) => {
  const mesh = await LocalMesh.start();
  t.teardown(() => mesh.stop());
  const tokenFile = await mesh.tokenFile('rogue', 'bar', 'rogue');
  const launched = mesh.launchProxy('rogue', { namespace: 'bar', serviceAccount: 'rogue', services: ['httpbin.foo'], inbound: [{ port: 8000, protocol: 'http', appPort: 1 }] }, tokenFile);
  const refused = await launched.process.next('registration-refused', 30_000);
  t.regex(String(refused.error), /may register services only in namespace bar, not httpbin\.foo/);
  const ready = await fetch(`http://127.0.0.1:${String((await launched.listening).admin)}/ready`);
  t.is(ready.status, 503, 'a refused registration keeps the proxy out of service');
});

test('npm run demo -- --check exits 0', async (t) => {
  const demo = fileURLToPath(new URL('../../loadtest/demo.js', import.meta.url));
  const r = await runProcess(demo, ['--check'], {}, 90_000);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /sleep\.foo to httpbin\.foo: 200 \(mTLS, peer spiffe:\/\/cluster\.local\/ns\/foo\/sa\/sleep\)/);
  t.regex(r.stdout, /sleep\.bar to httpbin\.foo: 200 \(mTLS, peer spiffe:\/\/cluster\.local\/ns\/bar\/sa\/sleep\)/);
  t.regex(r.stdout, /sleep\.legacy to httpbin\.foo: 200 \(plaintext, no peer identity\)/);
  t.regex(r.stdout, /check: every expected outcome happened/);
});

test('npm run demo -- --scenario migration --check exits 0 and prints each step with the task\'s lines', async (t) => {
  const demo = fileURLToPath(new URL('../../loadtest/demo.js', import.meta.url));
  const r = await runProcess(demo, ['--scenario', 'migration', '--check'], {}, 120_000);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /Step 3: Option 1: lock httpbin\.foo down to mutual TLS \(Policy STRICT\)[\s\S]*?sleep\.legacy to httpbin\.foo: 503/);
  t.regex(r.stdout, /migration: every step matched the task/);
});
