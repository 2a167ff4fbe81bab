import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Clock } from '../../shared/clock.js';
import { parseControlPlaneConfig } from '../../control-plane/config.js';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/control-plane.js';
import { OffsetClock } from './clocks.js';

export interface TestControlPlane extends RunningControlPlane {
  readonly dataDir: string;
  readonly clock: OffsetClock;
  readonly rootPem: string;
  readonly grpcTarget: string;
  readonly httpUrl: string;
  createToken(namespace: string, serviceAccount: string, ttl?: string): Promise<{ id: string; token: string }>;
  api(method: string, path: string, body?: unknown): Promise<Response>;
}

/** An in-process control plane on loopback with random ports and a temporary data dir. */
export async function startTestControlPlane(opts: { dataDir?: string; flags?: Record<string, string>; clock?: Clock } = {}): Promise<TestControlPlane> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'mesh-cp-')));
  const cfg = parseControlPlaneConfig({ 'data-dir': dataDir, 'grpc-listen': '127.0.0.1:0', 'http-listen': '127.0.0.1:0', 'log-level': 'silent', ...opts.flags });
  const clock = (opts.clock as OffsetClock | undefined) ?? new OffsetClock();
  const cp = await startControlPlane(cfg, clock, pino({ level: process.env.MESH_TEST_LOG ?? 'silent' }));
  const httpUrl = `http://127.0.0.1:${cp.httpPort}`;
  const api = (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(httpUrl + path, {
      method,
      headers: { authorization: `Bearer ${cp.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  return {
    ...cp,
    stop: () => cp.stop(),
    dataDir,
    clock,
    rootPem: await readFile(join(dataDir, 'ca', 'root-cert.pem'), 'utf8'),
    grpcTarget: `127.0.0.1:${cp.grpcPort}`,
    httpUrl,
    api,
    async createToken(namespace, serviceAccount, ttl = '1h') {
      const res = await api('POST', '/api/v1/tokens', { namespace, serviceAccount, ttl });
      if (res.status !== 201) throw new Error(`token create: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string; token: string };
    },
  };
}
