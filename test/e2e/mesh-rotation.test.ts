import test from 'ava';
import { Agent, request } from 'node:http';
import { once } from 'node:events';
import { startHttpbin } from '../../loadtest/apps/httpbin.js';
import { forwardedClientCert } from '../../loadtest/apps/sleep.js';
import { LocalMesh, type LocalProxy } from '../../loadtest/mesh/local-mesh.js';
import type { ProcessEvent } from '../../loadtest/mesh/process.js';

interface Traffic {
  ok: number;
  failed: string[];
  peers: Set<string>;
  stop(): Promise<void>;
}

/** Requests back to back through the client sidecar, half on one kept-alive connection, half on new ones. */
function startTraffic(client: LocalProxy): Traffic {
  const t: Traffic = { ok: 0, failed: [], peers: new Set(), stop: () => Promise.resolve() };
  let running = true;
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  const one = (agent: Agent | false): Promise<void> =>
    new Promise((resolve) => {
      const req = request(
        { host: '127.0.0.1', port: client.outboundPort, path: 'http://httpbin.foo:8000/headers', headers: { host: 'httpbin.foo:8000' }, agent, signal: AbortSignal.timeout(5000) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const peer = forwardedClientCert(Buffer.concat(chunks).toString())?.uri;
            if (res.statusCode === 200 && peer) {
              t.ok++;
              t.peers.add(peer);
            } else t.failed.push(`status ${res.statusCode ?? 0}, peer ${peer ?? 'none'}`);
            resolve();
          });
        },
      );
      req.on('error', (e) => {
        t.failed.push(e.message);
        resolve();
      });
      req.end();
    });
  const loop = async (agent: Agent | false): Promise<void> => {
    // Bounded: at most 20k requests per loop, and the test stops it long before.
    for (let i = 0; running && i < 20_000; i++) await one(agent);
  };
  const loops = Promise.all([loop(keepAlive), loop(false)]);
  t.stop = async () => {
    running = false;
    await loops;
    keepAlive.destroy();
  };
  return t;
}

/** The first `n` rotation events of a proxy since it started (including ones before we asked). */
async function rotations(p: LocalProxy, n: number, timeoutMs: number): Promise<ProcessEvent[]> {
  // The first 'rotated' event is the initial certificate (previousSerial null): not a rotation.
  const seen = (): ProcessEvent[] => p.process.events.filter((e) => e.event === 'rotated' && e.previousSerial !== null);
  const signal = AbortSignal.timeout(timeoutMs);
  while (seen().length < n) await once(p.process.emitter, 'rotated', { signal });
  return seen().slice(0, n);
}

async function meshWithPair(ttl: string): Promise<{ mesh: LocalMesh; server: LocalProxy; client: LocalProxy; close(): Promise<void> }> {
  const app = await startHttpbin();
  const mesh = await LocalMesh.start({ workloadTtl: ttl, logLevel: 'info' });
  const server = await mesh.addProxy('httpbin', { namespace: 'foo', serviceAccount: 'httpbin', services: ['httpbin'], inbound: [{ port: 8000, protocol: 'http', appPort: app.port }] });
  const client = await mesh.addProxy('sleep', { namespace: 'foo', serviceAccount: 'sleep', outbound: true });
  return { mesh, server, client, close: async () => {
    await mesh.stop();
    await app.close();
  } };
}

test('three rotations under continuous traffic: zero failed requests, a new serial each time', async (t) => {
  const pair = await meshWithPair('4s');
  const { server, client } = pair;
  t.teardown(() => pair.close());
  const traffic = startTraffic(client);
  const [serverRot, clientRot] = await Promise.all([rotations(server, 3, 20_000), rotations(client, 3, 20_000)]);
  await traffic.stop();

  t.deepEqual(traffic.failed, [], 'no request failed');
  t.true(traffic.ok > 20, `requests flowed (${traffic.ok})`);
  t.deepEqual([...traffic.peers], ['spiffe://cluster.local/ns/foo/sa/sleep'], 'every request arrived over mTLS from the client');
  for (const [p, evs] of [[server, serverRot], [client, clientRot]] as const) {
    const serials = [p.initialSerial, ...evs.map((e) => String(e.serial))];
    t.is(new Set(serials).size, 4, `${p.name}: four distinct serials`);
    t.deepEqual(evs.map((e) => String(e.previousSerial)), serials.slice(0, 3), `${p.name}: each rotation replaced the previous serial`);
    t.true(evs.every((e) => e.credential === 'certificate'), `${p.name}: renewals authenticate with the current certificate`);
  }
});

test('control plane down for longer than a rotation period: traffic goes on; back up: the proxies renew', async (t) => {
  // 30s: the rotation point comes ~24s in, leaving a few seconds for a restart on a loaded machine.
  const pair = await meshWithPair('30s');
  const { mesh, server, client } = pair;
  t.teardown(() => pair.close());
  const traffic = startTraffic(client);
  await mesh.stopControlPlane();
  // A failed renewal means the rotation point passed while the control plane was away.
  await Promise.all([server.process.next('rotation-failed', 30_000), client.process.next('rotation-failed', 30_000)]);
  const okWhileDown = traffic.ok;
  const failedWhileDown = traffic.failed.length;
  await mesh.startControlPlane();
  const [s, c] = await Promise.all([server.process.next('rotated', 30_000), client.process.next('rotated', 30_000)]);
  await traffic.stop();

  t.is(failedWhileDown, 0, 'no request failed while the control plane was down');
  t.true(okWhileDown > 10, `requests flowed while it was down (${okWhileDown})`);
  t.deepEqual(traffic.failed, []);
  t.not(s.serial, server.initialSerial);
  t.not(c.serial, client.initialSerial);
});
