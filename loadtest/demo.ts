#!/usr/bin/env node
// `npm run demo`: the Istio mutual-TLS migration setup on loopback. httpbin in foo with a sidecar,
// sleep clients in foo and bar with sidecars and one in legacy without; then each client calls
// httpbin.foo and we show whether the call arrived over mTLS and with which identity.
import { parseArgs } from 'node:util';
import { startHttpbin } from './apps/httpbin.js';
import { httpGet, forwardedClientCert } from './apps/sleep.js';
import { LocalMesh, type LocalProxy } from './mesh/local-mesh.js';
import { runMigration } from './scenarios/migration.js';

interface Outcome {
  readonly client: string;
  readonly status: number;
  readonly mtls: boolean;
  readonly peer: string | undefined;
  readonly ok: boolean;
  readonly error?: string;
}

const { values } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    ttl: { type: 'string', default: '1m' },
    scenario: { type: 'string', default: 'basic' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: npm run demo [-- --check] [-- --ttl 1m] [-- --scenario basic|migration]\n\n' +
      '  --check      run the scenario once; exit 0 only if every outcome is as expected\n' +
      '  --ttl        workload certificate lifetime (rotations are printed as they happen)\n' +
      '  --scenario   basic: who reaches httpbin.foo and how, then live rotations;\n' +
      '               migration: the Istio mutual-TLS migration task step by step, with its YAML\n',
  );
  process.exit(0);
}
if (values.scenario !== 'basic' && values.scenario !== 'migration') {
  process.stderr.write(`demo: --scenario: want basic or migration, got ${JSON.stringify(values.scenario)}\n`);
  process.exit(2);
}

const say = (s: string): boolean => process.stdout.write(`${s}\n`);

async function main(): Promise<number> {
  say('Starting a local mesh: control plane, httpbin.foo (sidecar), sleep.foo and sleep.bar (sidecars), sleep.legacy (no sidecar)…');
  const app = await startHttpbin();
  const mesh = await LocalMesh.start({ workloadTtl: values.ttl, logLevel: 'info' });
  let code = 1;
  try {
    const httpbin = await mesh.addProxy('httpbin.foo', {
      namespace: 'foo',
      serviceAccount: 'httpbin',
      services: ['httpbin'],
      inbound: [{ port: 8000, protocol: 'http', appPort: app.port }],
      labels: { app: 'httpbin' },
    });
    const sleepFoo = await mesh.addProxy('sleep.foo', { namespace: 'foo', serviceAccount: 'sleep', outbound: true, labels: { app: 'sleep' } });
    const sleepBar = await mesh.addProxy('sleep.bar', { namespace: 'bar', serviceAccount: 'sleep', outbound: true, labels: { app: 'sleep' } });
    say(`  control plane  grpc ${mesh.grpcTarget}  api ${mesh.httpUrl}  data ${mesh.dir}`);
    for (const p of [httpbin, sleepFoo, sleepBar]) say(`  ${p.name.padEnd(12)} ${p.spiffeId}  serial ${p.initialSerial}  admin http://127.0.0.1:${p.adminPort}`);
    say('');

    if (values.scenario === 'migration') {
      const ok = await runMigration(mesh, { foo: sleepFoo, bar: sleepBar, httpbin }, say);
      say('');
      say(ok ? 'migration: every step matched the task' : 'migration: FAILED (see the lines marked expected)');
      code = ok ? 0 : 1;
      return code;
    }

    const outcomes = await Promise.all([
      callThrough('sleep.foo', sleepFoo, 'spiffe://cluster.local/ns/foo/sa/sleep'),
      callThrough('sleep.bar', sleepBar, 'spiffe://cluster.local/ns/bar/sa/sleep'),
      callDirect('sleep.legacy', httpbin),
    ]);
    for (const o of outcomes) {
      const how = o.error ? `error: ${o.error}` : o.mtls ? `mTLS, peer ${o.peer ?? '?'}` : 'plaintext, no peer identity';
      say(`${o.client} to httpbin.foo: ${o.status || '000'} (${how})${o.ok ? '' : '   <-- unexpected'}`);
    }
    const allOk = outcomes.every((o) => o.ok);
    say('');
    if (values.check) {
      say(allOk ? 'check: every expected outcome happened' : 'check: FAILED (see the lines marked unexpected)');
      code = allOk ? 0 : 1;
      return code;
    }

    say(`Certificates live ${values.ttl} and rotate at 80% of that; each rotation is printed below. Ctrl-C to stop.`);
    for (const p of mesh.proxies.values()) {
      p.process.emitter.on('rotated', (ev: Record<string, unknown>) => {
        say(`${new Date().toISOString()}  ${p.name.padEnd(12)} rotated: serial ${String(ev.previousSerial)} -> ${String(ev.serial)}, valid until ${String(ev.notAfter)}`);
      });
    }
    const timer = setInterval(() => {
      void callThrough('sleep.foo', sleepFoo, 'spiffe://cluster.local/ns/foo/sa/sleep').then((o) => {
        if (!o.ok) say(`${new Date().toISOString()}  sleep.foo to httpbin.foo: ${o.status} ${o.error ?? ''}  <-- failed`);
      });
    }, 1000);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    clearInterval(timer);
    code = 0;
    return code;
  } finally {
    await mesh.stop({ keepDir: code !== 0 });
    await app.close();
    if (code !== 0) say(`logs kept in ${mesh.dir}`);
  }
}

async function callThrough(client: string, proxy: LocalProxy, expectedPeer: string): Promise<Outcome> {
  try {
    const res = await httpGet('http://httpbin.foo:8000/headers', { host: '127.0.0.1', port: proxy.outboundPort ?? 0 });
    const xfcc = forwardedClientCert(res.body);
    return { client, status: res.status, mtls: xfcc?.uri !== undefined, peer: xfcc?.uri, ok: res.status === 200 && xfcc?.uri === expectedPeer };
  } catch (e) {
    return { client, status: 0, mtls: false, peer: undefined, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** The legacy client has no sidecar: it reaches httpbin's inbound listener directly, in plaintext. */
async function callDirect(client: string, server: LocalProxy): Promise<Outcome> {
  try {
    const res = await httpGet(`http://${server.inbound.get(8000) ?? ''}/headers`);
    const xfcc = forwardedClientCert(res.body);
    return { client, status: res.status, mtls: xfcc !== undefined, peer: xfcc?.uri, ok: res.status === 200 && xfcc === undefined };
  } catch (e) {
    return { client, status: 0, mtls: false, peer: undefined, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
