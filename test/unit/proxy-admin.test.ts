import test from 'ava';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { FakeClock } from '../../shared/clock.js';
import { buildAdmin, readiness, type AdminListener } from '../../proxy/src/admin.js';
import { ProxyEvents } from '../../proxy/src/events.js';
import type { IdentitySnapshot } from '../../proxy/src/identity/snapshot.js';
import { ProxyMetrics } from '../../proxy/src/metrics.js';
import { TlsContexts } from '../../proxy/src/tls-contexts.js';
import { createPkiSet, spiffe, type PkiSet } from '../helpers/openssl-pki.js';
import { TestIdentitySource } from '../helpers/proxy-harness.js';

let pki: PkiSet;
let snap: IdentitySnapshot;
test.before(async () => {
  pki = await createPkiSet();
  snap = pki.mesh.snapshot(await pki.mesh.leaf({ spiffeId: spiffe('foo', 'httpbin') }));
});
test.after.always(async () => {
  await pki?.cleanup();
});

const silentLogger = () => pino({ level: 'info' }, new Writable({ write: (_c, _e, cb) => cb() }));

function listener(name: string, listening: boolean): AdminListener {
  return { name, listening, describe: () => ({ name, listening }) };
}

test('readiness needs a valid certificate, a bundle and every listener', (t) => {
  const now = snap.notBeforeMs + 1000;
  t.deepEqual(readiness(undefined, [], now), { ready: false, reason: 'no certificate yet (waiting for the control plane)' });
  t.like(readiness({ ...snap, rootsPem: [] }, [], now), { ready: false, reason: 'no trust bundle' });
  t.regex((readiness(snap, [], snap.notAfterMs) as { reason: string }).reason, /expired/);
  t.deepEqual(readiness(snap, [listener('inbound:8000', false), listener('upstream:9001', true)], now), { ready: false, reason: 'listener not up: inbound:8000' });
  t.deepEqual(readiness(snap, [listener('inbound:8000', true)], now), { ready: true });
});

test('admin API: ready, certs, config_dump, prometheus, logging, quitquitquit', async (t) => {
  let current: IdentitySnapshot | undefined = undefined;
  let quit = 0;
  const logger = silentLogger();
  const clock = new FakeClock(snap.notBeforeMs + 60_000);
  const events = new ProxyEvents();
  const metrics = new ProxyMetrics({ clock, snapshot: () => current });
  metrics.attach(events);
  const app = buildAdmin({
    port: 0,
    metrics,
    snapshot: () => current,
    listeners: () => [listener('inbound:8000', true)],
    logger,
    clock,
    onQuit: () => void quit++,
    configDump: () => ({ upstreams: ['httpbin.foo:8000'] }),
  });
  t.teardown(() => app.close());

  const notReady = await app.inject('/ready');
  t.is(notReady.statusCode, 503);
  t.regex(notReady.body, /no certificate yet/);
  t.is((await app.inject('/certs')).statusCode, 503);
  current = snap;
  t.is((await app.inject('/ready')).statusCode, 200);
  t.is((await app.inject('/healthz')).statusCode, 200);

  const certs = (await app.inject('/certs')).json<{ spiffeId: string; serial: string; chain: { level: string; serial: string; spiffeId?: string }[]; roots: { level: string }[] }>();
  t.is(certs.spiffeId, spiffe('foo', 'httpbin'));
  t.deepEqual(certs.chain.map((c) => c.level), ['workload', 'issuing']);
  t.is(certs.chain[0]?.serial, snap.serialHex);
  t.is(certs.chain[0]?.spiffeId, spiffe('foo', 'httpbin'));
  t.deepEqual(certs.roots.map((c) => c.level), ['root']);

  const dump = (await app.inject('/config_dump')).json<{ listeners: unknown[]; upstreams: string[]; identity: { serial: string } }>();
  t.is(dump.listeners.length, 1);
  t.deepEqual(dump.upstreams, ['httpbin.foo:8000']);
  t.is(dump.identity.serial, snap.serialHex);

  events.emit('connection-accepted', { direction: 'inbound', tlsMode: 'mtls', listener: 'l', peerId: spiffe('foo', 'sleep'), localId: snap.spiffeId, remoteAddress: undefined, localSerial: snap.serialHex });
  events.emit('connection-accepted', { direction: 'inbound', tlsMode: 'plaintext', listener: 'l', peerId: undefined, localId: snap.spiffeId, remoteAddress: undefined, localSerial: undefined });
  events.emit('handshake-failure', { direction: 'inbound', reason: 'unknown_authority', listener: 'l', peerAddress: undefined, localId: undefined, peerId: undefined, expectedIds: undefined, error: new Error('x') });
  events.emit('connection-closed', { direction: 'inbound', tlsMode: 'mtls', listener: 'l', peerId: undefined, bytesFromDownstream: 10, bytesFromUpstream: 20, durationMs: 5, error: undefined, idleTimedOut: false });
  metrics.recordRotation('success');
  const prom = await app.inject('/stats/prometheus');
  t.is(prom.statusCode, 200);
  t.true(prom.body.includes(`mesh_proxy_connections_total{direction="inbound",tls_mode="mtls",source_principal="${spiffe('foo', 'sleep')}"} 1`));
  t.true(prom.body.includes('mesh_proxy_connections_total{direction="inbound",tls_mode="plaintext",source_principal="unknown"} 1'));
  t.true(prom.body.includes('mesh_proxy_handshake_failures_total{direction="inbound",reason="unknown_authority"} 1'));
  t.true(prom.body.includes('mesh_proxy_rotations_total{result="success"} 1'));
  t.true(prom.body.includes('mesh_proxy_received_bytes_total{direction="inbound",tls_mode="mtls"} 10'));
  t.true(prom.body.includes('mesh_proxy_sent_bytes_total{direction="inbound",tls_mode="mtls"} 20'));
  const expiry = new RegExp(`mesh_proxy_cert_expiry_seconds\\{level="workload",serial="${snap.serialHex}"\\} (\\d+)`).exec(prom.body);
  t.is(Number(expiry?.[1]), (snap.notAfterMs - clock.now()) / 1000);
  t.regex(prom.body, /mesh_proxy_cert_expiry_seconds\{level="root",serial="[0-9a-f]+"\}/);
  t.regex(prom.body, /mesh_proxy_cert_expiry_seconds\{level="issuing",serial="[0-9a-f]+"\}/);

  t.is((await app.inject('/logging')).json<{ level: string }>().level, 'info');
  t.is((await app.inject({ method: 'POST', url: '/logging?level=debug' })).statusCode, 200);
  t.is(logger.level, 'debug');
  t.is((await app.inject({ method: 'POST', url: '/logging?level=loud' })).statusCode, 400);
  t.is((await app.inject({ url: '/logging?level=debug' })).statusCode, 405);

  t.is((await app.inject('/quitquitquit')).statusCode, 404);
  const q = await app.inject({ method: 'POST', url: '/quitquitquit' });
  t.is(q.statusCode, 200);
  await new Promise<void>((r) => setImmediate(r));
  t.is(quit, 1);
});

test('TLS contexts: built once per snapshot change, a bad snapshot keeps the old ones', async (t) => {
  const source = new TestIdentitySource();
  const ctx = new TlsContexts(source);
  t.is(ctx.current(), undefined);
  source.set(snap);
  const first = ctx.current();
  t.is(first?.generation, 1);
  source.emit('changed', snap); // same snapshot again: nothing to rebuild
  t.is(ctx.current(), first);
  const failed = new Promise<Error>((r) => ctx.once('rebuild-failed', (e) => r(e)));
  source.set({ ...snap, privateKeyPem: 'not a key' });
  t.truthy(await failed);
  t.is(ctx.current(), first);
  const other = pki.mesh.snapshot(await pki.mesh.leaf({ spiffeId: spiffe('foo', 'httpbin') }));
  source.set(other);
  t.is(ctx.current()?.generation, 3);
  t.is(ctx.snapshot(), other);
  ctx.close();
  t.is(source.listenerCount('changed'), 0);
});
