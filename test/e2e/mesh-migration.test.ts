import test from 'ava';
import { startHttpbin } from '../../loadtest/apps/httpbin.js';
import { LocalMesh } from '../../loadtest/mesh/local-mesh.js';
import { MIGRATION_STEPS, runMigration } from '../../loadtest/scenarios/migration.js';

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
