import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../../shared/logging.js';
import { MeshError } from '../../shared/errors.js';
import { Problems } from '../../shared/config-check.js';
import { isValidNamespace, isValidServiceAccount } from '../../shared/spiffe.js';
import { adminTokenMatches, TokenNotFoundError, type BootstrapTokens } from '../auth/index.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { TrustSource } from '../grpc/secret-service.js';
import { UnauthorizedError } from './errors.js';
import { registerPolicyRoutes, type PolicyRouteDeps } from './policy-routes.js';
import { PolicyNotFoundError, WorkloadNotFoundError } from '../policy/errors.js';

const MAX_TOKEN_TTL_MS = 30 * 24 * 3_600_000;

export interface ApiDeps extends PolicyRouteDeps {
  readonly adminToken: string;
  readonly tokens: BootstrapTokens;
  readonly trust: TrustSource;
  readonly metrics: ControlPlaneMetrics;
  readonly log: Logger;
  readonly ready: () => boolean;
}

/** Maps our error codes to HTTP status: the only place that does. */
function httpStatus(e: MeshError): number {
  if (e instanceof UnauthorizedError) return 401;
  if (e instanceof TokenNotFoundError || e instanceof PolicyNotFoundError || e instanceof WorkloadNotFoundError) return 404;
  if (e.code === 'MESH_ERR_CONFIG_INVALID') return 400;
  return 500;
}

/** The REST API (admin credential required under /api/) plus unauthenticated probes and /metrics. */
export function buildApi(d: ApiDeps) {
  // Our own log lines only: per-request logging would be noise at info and a cost on every call.
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

  app.setErrorHandler((err: FastifyError | MeshError, _req, reply) => {
    if (err instanceof MeshError) {
      void reply.code(httpStatus(err)).send({ code: err.code, message: err.message });
      return;
    }
    const status = 'statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) d.log.error({ err }, 'API request failed');
    void reply.code(status).send({ code: status === 500 ? 'MESH_ERR_INTERNAL' : 'MESH_ERR_BAD_REQUEST', message: status === 500 ? 'internal error' : err.message });
  });

  app.addHook('onRequest', (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
    if (!req.url.startsWith('/api/')) return done();
    const h = req.headers.authorization;
    const presented = typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7).trim() : '';
    if (!presented || !adminTokenMatches(d.adminToken, presented)) {
      return done(new UnauthorizedError('admin credential missing or wrong: send "Authorization: Bearer <contents of <data-dir>/admin.token>"'));
    }
    done();
  });

  app.get('/healthz', (_req, reply) => reply.send({ status: 'ok' }));
  app.get('/ready', (_req, reply: FastifyReply) => (d.ready() ? reply.send({ status: 'ready' }) : reply.code(503).send({ status: 'not ready' })));
  app.get('/metrics', async (_req, reply) => {
    const body = await d.metrics.registry.metrics();
    return reply.type(d.metrics.registry.contentType).send(body);
  });

  app.get('/api/v1/ca/bundle', async (_req, reply) => {
    return reply.type('application/x-pem-file').send(d.trust.bundle().root_pem.join(''));
  });

  app.post('/api/v1/tokens', async (req, reply) => {
    const body = parseTokenRequest(req.body);
    const created = await d.tokens.create(body.namespace, body.serviceAccount, body.ttlMs);
    d.log.info({ id: created.id, namespace: created.namespace, serviceAccount: created.serviceAccount, expiresAt: created.expiresAt }, 'bootstrap token created');
    return reply.code(201).send(created);
  });
  app.get('/api/v1/tokens', async () => ({ items: await d.tokens.list() }));
  app.delete<{ Params: { id: string } }>('/api/v1/tokens/:id', async (req) => {
    const view = await d.tokens.revoke(req.params.id);
    d.log.info({ id: view.id }, 'bootstrap token revoked');
    return view;
  });

  registerPolicyRoutes(app, d);
  return app;
}

function parseTokenRequest(raw: unknown): { namespace: string; serviceAccount: string; ttlMs: number } {
  const p = new Problems();
  const o = p.record(raw, 'body', ['namespace', 'serviceAccount', 'ttl']);
  const ns = o.namespace;
  const sa = o.serviceAccount;
  p.check(typeof ns === 'string' && isValidNamespace(ns), 'namespace', 'a Kubernetes namespace name', ns ?? null);
  p.check(typeof sa === 'string' && isValidServiceAccount(sa), 'serviceAccount', 'a Kubernetes service account name', sa ?? null);
  const ttl = o.ttl;
  p.check(ttl === undefined || typeof ttl === 'string', 'ttl', 'a duration string such as 1h', ttl);
  const ttlMs = p.duration('ttl', typeof ttl === 'string' ? ttl : undefined, { def: 3_600_000, min: 1000, max: MAX_TOKEN_TTL_MS });
  p.throwIfAny();
  return { namespace: ns as string, serviceAccount: sa as string, ttlMs };
}
