import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { validateSnapshotChain } from './identity/validate-secret.js';
import Fastify, { type FastifyInstance } from 'fastify';
import type { LevelWithSilent } from 'pino';
import { systemClock, type Clock } from '../../shared/clock.js';
import { LOG_LEVELS, type Logger } from '../../shared/logging.js';
import type { IdentitySnapshot } from './identity/snapshot.js';
import { describeSnapshotCerts, type CertInfo, type ProxyMetrics } from './metrics.js';

/** What the admin API needs to know about a listener. */
export interface AdminListener {
  readonly name: string;
  readonly listening: boolean;
  describe(): Record<string, unknown>;
}

export interface AdminOptions {
  readonly host?: string;
  readonly port: number;
  readonly metrics: ProxyMetrics;
  readonly snapshot: () => IdentitySnapshot | undefined;
  readonly listeners: () => readonly AdminListener[];
  readonly logger: Logger;
  /** Applies a level everywhere it matters (pino children keep the level they were created with). Default: the given logger. */
  readonly setLogLevel?: (level: LevelWithSilent) => void;
  /** Graceful exit, called after the /quitquitquit response went out. */
  readonly onQuit: () => void | Promise<void>;
  /** Extra sections for /config_dump (configuration, registry state, policies). */
  readonly configDump?: () => Record<string, unknown>;
  readonly clock?: Clock;
}

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** Ready = a certificate that is valid now, a trust bundle, and every listener up. */
export function readiness(snapshot: IdentitySnapshot | undefined, listeners: readonly AdminListener[], nowMs: number): Readiness {
  if (!snapshot) return { ready: false, reason: 'no certificate yet (waiting for the control plane)' };
  if (snapshot.rootsPem.length === 0) return { ready: false, reason: 'no trust bundle' };
  if (nowMs >= snapshot.notAfterMs) return { ready: false, reason: `certificate ${snapshot.serialHex} expired at ${new Date(snapshot.notAfterMs).toISOString()}` };
  const down = listeners.filter((l) => !l.listening).map((l) => l.name);
  if (down.length > 0) return { ready: false, reason: `listener${down.length > 1 ? 's' : ''} not up: ${down.join(', ')}` };
  return { ready: true };
}

function certJson(c: CertInfo, nowMs: number): Record<string, unknown> {
  return {
    level: c.level,
    serial: c.serialHex,
    subject: c.subject,
    issuer: c.issuer,
    spiffeId: c.spiffeId,
    notBefore: new Date(c.notBeforeMs).toISOString(),
    notAfter: new Date(c.notAfterMs).toISOString(),
    secondsToExpiry: Math.floor((c.notAfterMs - nowMs) / 1000),
    fingerprint256: c.fingerprint256,
    pem: c.pem,
  };
}

/** Does the chain this proxy serves verify against the bundle it holds, for its own key and ID, now? */
function chainCheck(snap: IdentitySnapshot, nowMs: number): { ok: boolean; detail: string } {
  try {
    const roots = snap.rootsPem.map((p) => new X509Certificate(p));
    validateSnapshotChain(snap, roots, nowMs);
    return { ok: true, detail: `chain verifies against the trust bundle (${roots.length} root${roots.length === 1 ? '' : 's'})` };
  } catch (e) {
    return { ok: false, detail: e instanceof Error ? e.message : String(e) };
  }
}

export interface AdminServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

function isLevel(s: unknown): s is LevelWithSilent {
  return typeof s === 'string' && (LOG_LEVELS as readonly string[]).includes(s);
}

/** Builds the admin app without listening (tests use inject()). */
export function buildAdmin(opts: AdminOptions): FastifyInstance {
  const clock = opts.clock ?? systemClock;
  const setLevel = opts.setLogLevel ?? ((l: LevelWithSilent) => void (opts.logger.level = l));
  const app = Fastify({ logger: false });

  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/ready', async (_req, reply) => {
    const r = readiness(opts.snapshot(), opts.listeners(), clock.now());
    if (r.ready) return reply.type('text/plain').send('ready\n');
    return reply.code(503).type('text/plain').send(`not ready: ${r.reason}\n`);
  });

  app.get('/stats/prometheus', async (_req, reply) => {
    const body = await opts.metrics.registry.metrics();
    return reply.type(opts.metrics.registry.contentType).send(body);
  });

  app.get('/certs', async (_req, reply) => {
    const snap = opts.snapshot();
    if (!snap) return reply.code(503).send({ error: 'no certificate yet' });
    const now = clock.now();
    const certs = describeSnapshotCerts(snap);
    return reply.send({
      spiffeId: snap.spiffeId,
      trustDomain: snap.trustDomain,
      bundleVersion: snap.bundleVersion,
      serial: snap.serialHex,
      chainCheck: chainCheck(snap, now),
      chain: certs.filter((c) => c.level !== 'root').map((c) => certJson(c, now)),
      roots: certs.filter((c) => c.level === 'root').map((c) => certJson(c, now)),
    });
  });

  app.get('/config_dump', async (_req, reply) => {
    const snap = opts.snapshot();
    return reply.send({
      identity: snap ? { spiffeId: snap.spiffeId, serial: snap.serialHex, bundleVersion: snap.bundleVersion, notAfter: new Date(snap.notAfterMs).toISOString() } : null,
      listeners: opts.listeners().map((l) => l.describe()),
      ...opts.configDump?.(),
    });
  });

  app.get('/logging', async (req, reply) => {
    if ((req.query as Record<string, unknown>).level !== undefined) return reply.code(405).send({ error: 'use POST /logging?level=… to change the level' });
    return reply.send({ level: opts.logger.level });
  });
  app.post('/logging', async (req, reply) => {
    const level = (req.query as Record<string, unknown>).level;
    if (!isLevel(level)) return reply.code(400).send({ error: `level must be one of ${LOG_LEVELS.join(', ')}`, got: level ?? null });
    setLevel(level);
    opts.logger.info({ level }, 'log level changed through the admin API');
    return reply.send({ level });
  });

  app.post('/quitquitquit', async (_req, reply) => {
    reply.raw.once('finish', () => void Promise.resolve(opts.onQuit()).catch((e: unknown) => opts.logger.error({ err: e }, 'graceful exit failed')));
    return reply.type('text/plain').send('OK\n');
  });

  return app;
}

/** Starts the admin server (127.0.0.1 unless told otherwise: it can stop the proxy). */
export async function startAdmin(opts: AdminOptions): Promise<AdminServer> {
  const app = buildAdmin(opts);
  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port });
  const address = app.server.address() as AddressInfo;
  return { address, close: () => app.close() };
}
