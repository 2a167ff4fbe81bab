import test from 'ava';
import { startHttpbin } from '../../loadtest/apps/httpbin.js';
import { LocalMesh } from '../../loadtest/mesh/local-mesh.js';
import { MIGRATION_STEPS, runMigration } from '../../loadtest/scenarios/migration.js';
import { BIN, runProcess } from '../../loadtest/mesh/process.js';

test('the Istio migration task replayed with its YAML: option 1 and option 2, every step as the task shows', async (t) => {
  const app = await startHttpbin();
  const mesh = await LocalMesh.start();
  t.teardown(async () => {
    await mesh.stop();
    await app.close();
  });
  const httpbin = await mesh.addProxy('httpbin.foo', { namespace: 'foo', serviceAccount: 'httpbin', services: ['httpbin'], labels: { app: 'httpbin' }, inbound: [{ port: 8000, protocol: 'http', appPort: app.port }] });
  const foo = await mesh.addProxy('sleep.foo', { namespace: 'foo', serviceAccount: 'sleep', outbound: true, labels: { app: 'sleep' } });
  const bar = await mesh.addProxy('sleep.bar', { namespace: 'bar', serviceAccount: 'sleep', outbound: true, labels: { app: 'sleep' } });
  const lines: string[] = [];
  const ok = await runMigration(mesh, { foo, bar, httpbin }, (l) => lines.push(l));
  t.true(ok, lines.join('\n'));
  // The outcome lines are the task's, step by step.
  const outcomes = lines.filter((l) => l.startsWith('sleep.')).map((l) => l.split('  ')[0]);
  t.is(outcomes.length, MIGRATION_STEPS.length * 3);
  const legacy = outcomes.filter((l) => l?.startsWith('sleep.legacy'));
  t.deepEqual(legacy, MIGRATION_STEPS.map((s) => `sleep.legacy to httpbin.foo: ${s.expect.legacy}`));
});

test('meshctl tls-check shows the server mode, each caller and a CONFLICT for a STRICT server with a DISABLE client', async (t) => {
  const app = await startHttpbin();
  const mesh = await LocalMesh.start();
  t.teardown(async () => {
    await mesh.stop();
    await app.close();
  });
  await mesh.addProxy('httpbin-1', { namespace: 'foo', serviceAccount: 'httpbin', services: ['httpbin'], labels: { app: 'httpbin' }, inbound: [{ port: 8000, protocol: 'http', appPort: app.port }] });
  await mesh.addProxy('sleep-foo', { namespace: 'foo', serviceAccount: 'sleep', outbound: true });
  await mesh.addProxy('sleep-bar', { namespace: 'bar', serviceAccount: 'sleep', outbound: true });
  const env = { MESH_CONTROL_PLANE: mesh.httpUrl, MESH_ADMIN_TOKEN: mesh.adminToken };
  const clean = await runProcess(BIN.meshctl, ['tls-check', 'foo/httpbin'], env);
  t.is(clean.code, 0, clean.stdout + clean.stderr);
  t.regex(clean.stdout, /port 8000: server mode PERMISSIVE; clients without a sidecar \(plaintext\) are accepted/);
  t.regex(clean.stdout, /bar\/sleep-bar\s+ISTIO_MUTUAL \(auto mTLS\)\s+OK/);

  const strict = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'foo' }, spec: { mtls: { mode: 'STRICT' } } };
  const disable = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'plain', namespace: 'bar' }, spec: { host: 'httpbin.foo.svc.cluster.local', trafficPolicy: { tls: { mode: 'DISABLE' } } } };
  t.is((await mesh.api('POST', '/api/v1/apply', { documents: [strict, disable] })).status, 200);
  const bad = await runProcess(BIN.meshctl, ['tls-check', 'foo/httpbin', '--port', '8000'], env);
  t.is(bad.code, 1);
  t.regex(bad.stdout, /server mode STRICT; clients without a sidecar \(plaintext\) are refused/);
  t.regex(bad.stdout, /bar\/sleep-bar\s+DISABLE \(DestinationRule\)\s+CONFLICT: the server is STRICT and this client sends plaintext/);
  t.regex(bad.stdout, /foo\/sleep-foo\s+ISTIO_MUTUAL \(auto mTLS\)\s+OK/);
  const ap = (name: string, spec: unknown) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'foo' }, spec });
  t.is((await mesh.api('POST', '/api/v1/apply', { documents: [
    ap('orphan', { selector: { matchLabels: { app: 'nothing' } }, rules: [{}] }),
    ap('typo', { selector: { matchLabels: { app: 'httpbin' } }, rules: [{ from: [{ source: { principals: ['cluster.local/ns/foo/sa/sleeep'] } }] }] }),
    ap('deny-everything', { action: 'DENY', rules: [{}] }),
  ] })).status, 200);
  const analysis = await runProcess(BIN.meshctl, ['analyze'], env);
  t.is(analysis.code, 1, 'the TLS conflict is an error');
  t.regex(analysis.stdout, /ERROR \[tls-conflict\] foo\/httpbin-1:8000: bar\/sleep-bar → foo\/httpbin-1 port 8000: the server is STRICT/);
  t.regex(analysis.stdout, /WARNING \[selector-matches-nothing\] AuthorizationPolicy foo\/orphan: selector app=nothing/);
  t.regex(analysis.stdout, /WARNING \[unknown-principal\] AuthorizationPolicy foo\/typo: principal cluster\.local\/ns\/foo\/sa\/sleeep/);
  t.regex(analysis.stdout, /WARNING \[allow-shadowed\] AuthorizationPolicy foo\/typo: shadowed by AuthorizationPolicy foo\/deny-everything/);
  t.notRegex(analysis.stdout, /certificate-expiring/, 'fresh certificates are outside every window');
  const missing = await runProcess(BIN.meshctl, ['tls-check', 'foo/nothing'], env);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no registered workload or service foo\/nothing/);
});
