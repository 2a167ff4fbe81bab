import test from 'ava';
import { startTestControlPlane } from '../helpers/control-plane.js';

const PA = (mode: string) => ({ apiVersion: 'security.istio.io/v1beta1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'foo' }, spec: { mtls: { mode } } });

test('policies: validated strictly, revisions grow, and a restart loses nothing', async (t) => {
  const a = await startTestControlPlane();
  const bad = await a.api('POST', '/api/v1/apply', { documents: [PA('STRICT'), { ...PA('SOMETIMES'), metadata: { name: 'x', namespace: 'foo' } }] });
  t.is(bad.status, 400);
  const err = (await bad.json()) as { code: string; message: string };
  t.is(err.code, 'MESH_ERR_CONFIG_INVALID');
  t.regex(err.message, /document 2: .*spec\.mtls\.mode/);
  t.is(((await (await a.api('GET', '/api/v1/policies/pa')).json()) as { items: unknown[] }).items.length, 0, 'one bad document stores none');

  const r1 = (await (await a.api('POST', '/api/v1/apply', { documents: [PA('PERMISSIVE')] })).json()) as { revision: number; results: { outcome: string }[] };
  const r2 = (await (await a.api('POST', '/api/v1/apply', { documents: [PA('STRICT')] })).json()) as { revision: number; results: { outcome: string }[] };
  const r3 = (await (await a.api('POST', '/api/v1/apply', { documents: [PA('STRICT')] })).json()) as { revision: number; results: { outcome: string }[] };
  t.deepEqual([r1.results[0]?.outcome, r2.results[0]?.outcome, r3.results[0]?.outcome], ['created', 'configured', 'unchanged']);
  t.true(r2.revision > r1.revision);
  t.is(r3.revision, r2.revision);
  t.is((await a.api('DELETE', '/api/v1/policies/pa/foo/nope')).status, 404);
  await a.stop();

  const b = await startTestControlPlane({ dataDir: a.dataDir });
  t.teardown(() => b.stop());
  const got = (await (await b.api('GET', '/api/v1/policies/peerauthentication/foo/default')).json()) as { object: { spec: { mtls: { mode: string } } }; revision: number };
  t.is(got.object.spec.mtls.mode, 'STRICT');
  t.is(got.revision, r2.revision);
  const del = (await (await b.api('DELETE', '/api/v1/policies/pa/foo/default')).json()) as { revision: number };
  t.true(del.revision > r2.revision, 'a deletion gets a newer revision too');
  await b.stop();
  const c = await startTestControlPlane({ dataDir: a.dataDir });
  t.teardown(() => c.stop());
  const after = (await (await c.api('POST', '/api/v1/apply', { documents: [PA('DISABLE')] })).json()) as { revision: number };
  t.true(after.revision > del.revision, 'revisions never go back after a restart');
});
