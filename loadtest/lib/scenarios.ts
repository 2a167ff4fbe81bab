/**
 * Scenario set-up: every scenario starts its own app (a minimal HTTP server, as a process), and the
 * proxies it measures, on loopback. A scenario yields cases; the runner measures each.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalMesh, type LocalProxy } from '../mesh/local-mesh.js';
import { startProcess, type MeshProcess } from '../mesh/process.js';
import type { ScenarioName } from './args.js';
import { makePairCerts, type PairCerts } from './certs.js';
import type { NginxKind } from './nginx.js';
import type { MeasuredProc } from './procstat.js';

const APP_BIN = fileURLToPath(new URL('../apps/app-main.js', import.meta.url));
const NAIVE_BIN = fileURLToPath(new URL('../naive/naive-pipe.js', import.meta.url));

export interface Case {
  /** `baseline`, `mesh`, `naive`, or `nginx`. */
  readonly kind: 'baseline' | 'mesh' | 'naive' | 'nginx';
  readonly label: string;
  readonly port: number;
  readonly path: string;
  readonly hostHeader: string;
  readonly churn: boolean;
  /** Open loop: every Nth request on a new connection (new mTLS handshakes), the rest kept alive. */
  readonly newConnectionEvery?: number;
  /** Proxy processes whose CPU and RSS are reported (one per sidecar). */
  readonly procs: readonly MeasuredProc[];
}

export interface ScenarioEnv {
  readonly dir: string;
  readonly appPort: number;
  readonly baseline: Case;
  readonly cases: Case[];
  /** What `--compare nginx` starts for the cases of this scenario; undefined: no comparison. */
  readonly nginxKind: NginxKind | undefined;
  certs(): PairCerts;
  /** Rotations (proxy `rotated` events) seen so far, all proxies together. */
  rotations(): number;
  stop(): Promise<void>;
}

export const PAYLOAD_SIZES = [1024, 65536, 1048576] as const;
const SERVICE = 'httpbin.foo:8000';
const PATH = '/bytes/100';

/** Ten ALLOW rules, the request matching only the last: every rule is evaluated per request. */
export function tenRulePolicy(): unknown {
  const rules = Array.from({ length: 9 }, (_, i) => ({
    from: [{ source: { principals: [`cluster.local/ns/other-${i}/sa/client`] } }],
    to: [{ operation: { methods: ['GET'], paths: [`/other-${i}/*`] } }],
  }));
  rules.push({ from: [{ source: { principals: ['cluster.local/ns/bar/sa/sleep'] } }], to: [{ operation: { methods: ['GET'], paths: ['/bytes/*'] } }] });
  return {
    apiVersion: 'security.istio.io/v1beta1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'loadtest-ten-rules', namespace: 'foo' },
    spec: { selector: { matchLabels: { app: 'httpbin' } }, action: 'ALLOW', rules },
  };
}

function pid(p: MeshProcess): number {
  return p.child.pid ?? 0;
}

async function startApp(dir: string): Promise<MeshProcess> {
  const app = startProcess('app', APP_BIN, [], join(dir, 'app.log'));
  await app.listening;
  return app;
}

export async function setupScenario(name: ScenarioName, opts: { smoke: boolean; log: (m: string) => void }): Promise<ScenarioEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-loadtest-'));
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  let certs: PairCerts | undefined;
  const getCerts = (): PairCerts => (certs ??= makePairCerts(dir));
  let mesh: LocalMesh | undefined;
  mkdirSync(join(dir, 'mesh'));
  try {
    const app = await startApp(dir);
    stops.push(() => app.stop());
    const appPort = Number((await app.listening).port);
    const baseline: Case = { kind: 'baseline', label: 'baseline', port: appPort, path: PATH, hostHeader: SERVICE, churn: name === 'churn', procs: [] };
    const cases: Case[] = [];
    let nginxKind: NginxKind | undefined;

    const startMesh = async (protocol: 'tcp' | 'http', workloadTtl?: string): Promise<{ client: LocalProxy; server: LocalProxy }> => {
      opts.log(`starting the control plane and two proxies (${protocol})`);
      mesh = await LocalMesh.start({ dir: join(dir, 'mesh'), ...(workloadTtl ? { workloadTtl } : {}) });
      const m = mesh;
      stops.push(() => m.stop());
      const server = await m.addProxy('httpbin', { namespace: 'foo', serviceAccount: 'httpbin', services: ['httpbin'], labels: { app: 'httpbin' }, inbound: [{ port: 8000, protocol, appPort }] });
      const client = await m.addProxy('sleep', { namespace: 'bar', serviceAccount: 'sleep', upstreams: [SERVICE] });
      return { client, server };
    };
    const sidecars = (p: { client: LocalProxy; server: LocalProxy }): MeasuredProc[] => [
      { name: 'client-sidecar', pid: pid(p.client.process) },
      { name: 'server-sidecar', pid: pid(p.server.process) },
    ];
    const upstreamPort = (c: LocalProxy): number => c.upstreams.get(SERVICE) ?? 0;

    switch (name) {
      case 'baseline':
        break;
      case 'naive-l4': {
        getCerts();
        const server = startProcess('naive-server', NAIVE_BIN, ['server', '0', String(appPort), dir], join(dir, 'naive-server.log'));
        stops.push(() => server.stop());
        const serverPort = Number((await server.listening).port);
        const client = startProcess('naive-client', NAIVE_BIN, ['client', '0', String(serverPort), dir], join(dir, 'naive-client.log'));
        stops.push(() => client.stop());
        const port = Number((await client.listening).port);
        cases.push({ kind: 'naive', label: 'naive-l4', port, path: PATH, hostHeader: SERVICE, churn: false, procs: [{ name: 'naive-client', pid: pid(client) }, { name: 'naive-server', pid: pid(server) }] });
        nginxKind = 'stream';
        break;
      }
      case 'pair-l4':
      case 'churn':
      case 'rotation': {
        const p = await startMesh('tcp', name === 'rotation' ? '10s' : undefined);
        cases.push({ kind: 'mesh', label: name, port: upstreamPort(p.client), path: PATH, hostHeader: SERVICE, churn: name === 'churn', procs: sidecars(p), ...(name === 'rotation' ? { newConnectionEvery: 10 } : {}) });
        nginxKind = name === 'rotation' ? undefined : 'stream';
        break;
      }
      case 'pair-l7': {
        const p = await startMesh('http');
        opts.log('applying a 10-rule AuthorizationPolicy');
        const res = await mesh!.api('POST', '/api/v1/apply?wait=20s', { documents: [tenRulePolicy()] });
        if (!res.ok) throw new Error(`apply: HTTP ${res.status} ${await res.text()}`);
        cases.push({ kind: 'mesh', label: 'pair-l7', port: upstreamPort(p.client), path: PATH, hostHeader: SERVICE, churn: false, procs: sidecars(p) });
        nginxKind = 'http';
        break;
      }
      case 'server-only': {
        opts.log('starting the control plane and a PERMISSIVE server proxy');
        mesh = await LocalMesh.start({ dir: join(dir, 'mesh') });
        const m = mesh;
        stops.push(() => m.stop());
        const server = await m.addProxy('httpbin', { namespace: 'foo', serviceAccount: 'httpbin', services: ['httpbin'], labels: { app: 'httpbin' }, inbound: [{ port: 8000, protocol: 'http', appPort }] });
        const port = Number((server.inbound.get(8000) ?? ':0').split(':').pop());
        cases.push({ kind: 'mesh', label: 'server-only', port, path: PATH, hostHeader: SERVICE, churn: false, procs: [{ name: 'server-sidecar', pid: pid(server.process) }] });
        nginxKind = 'server-only';
        break;
      }
      case 'payload': {
        const p = await startMesh('tcp');
        for (const size of PAYLOAD_SIZES) {
          cases.push({ kind: 'mesh', label: `payload ${size >= 1048576 ? `${size / 1048576} MiB` : `${size / 1024} KiB`}`, port: upstreamPort(p.client), path: `/bytes/${size}`, hostHeader: SERVICE, churn: false, procs: sidecars(p) });
        }
        nginxKind = 'stream';
        break;
      }
    }
    return {
      dir,
      appPort,
      baseline,
      cases,
      nginxKind,
      certs: getCerts,
      rotations: () => {
        let n = 0;
        for (const p of mesh?.proxies.values() ?? []) n += p.process.events.filter((e) => e.event === 'rotated').length;
        return n;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
