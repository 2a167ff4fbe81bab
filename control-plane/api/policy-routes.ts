import type { FastifyInstance } from 'fastify';
import { ConfigInvalidError, MeshError } from '../../shared/errors.js';
import { Problems } from '../../shared/config-check.js';
import { validatePolicy } from '../../shared/policy/index.js';
import type { PolicyKind, PolicyObject } from '../../shared/policy/types.js';
import type { PolicyStore } from '../policy/policy-store.js';
import { parseKind } from '../policy/kinds.js';
import { PolicyNotFoundError } from '../policy/errors.js';
import type { PolicyService } from '../grpc/policy-service.js';
import type { ServiceRegistry } from '../registry/index.js';
import { tlsCheck } from '../policy/tls-check.js';
import { analyze, type CertToWatch } from '../policy/analyze.js';
import { WorkloadNotFoundError } from '../policy/errors.js';

export interface PolicyRouteDeps {
  readonly policies: PolicyStore;
  readonly registry: ServiceRegistry;
  /** CA certificates and the workload certificates of connected proxies, for expiry findings. */
  readonly certsToWatch: () => CertToWatch[];
  readonly now: () => number;
  readonly policyService: PolicyService;
  readonly rootNamespace: string;
}

const MAX_DOCUMENTS = 500;
const MAX_WAIT_MS = 5 * 60_000;

/** `?wait=10s`: answer only once every affected proxy ACKed the change (or say who did not). */
async function waitFor(d: PolicyRouteDeps, query: unknown, revision: number): Promise<Record<string, unknown>> {
  const raw = typeof query === 'object' && query !== null && 'wait' in query && typeof query.wait === 'string' ? query.wait : undefined;
  if (raw === undefined) return {};
  const p = new Problems();
  const ms = p.duration('wait', raw, { def: 0, min: 0, max: MAX_WAIT_MS });
  p.throwIfAny();
  const converged = await d.policyService.waitConverged(revision, ms);
  return { converged, ...(converged ? {} : { stragglers: d.policyService.stragglers(revision) }) };
}

/** Validates every document before anything is stored: one bad document stores none. */
function validateAll(raw: unknown, rootNamespace: string): PolicyObject[] {
  const docs = typeof raw === 'object' && raw !== null && 'documents' in raw ? raw.documents : undefined;
  if (!Array.isArray(docs) || docs.length === 0 || docs.length > MAX_DOCUMENTS) {
    throw new ConfigInvalidError([`body.documents: want 1..${MAX_DOCUMENTS} policy objects`]);
  }
  const objects: PolicyObject[] = [];
  const problems: string[] = [];
  docs.forEach((d: unknown, i) => {
    try {
      objects.push(validatePolicy(d, { rootNamespace }));
    } catch (e) {
      if (!(e instanceof MeshError)) throw e;
      problems.push(docs.length > 1 ? `document ${i + 1}: ${e.message}` : e.message);
    }
  });
  if (problems.length) throw new ConfigInvalidError(problems);
  return objects;
}

function kindOf(text: string): PolicyKind {
  const kind = parseKind(text);
  if (!kind) throw new ConfigInvalidError([`kind: want PeerAuthentication, DestinationRule or AuthorizationPolicy (or pa, dr, ap), got ${JSON.stringify(text)}`]);
  return kind;
}

const summary = (o: PolicyObject) => ({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name });

export function registerPolicyRoutes(app: FastifyInstance, d: PolicyRouteDeps): void {
  app.post('/api/v1/apply', async (req) => {
    const objects = validateAll(req.body, d.rootNamespace);
    const results = await d.policies.apply(objects);
    const revision = d.policies.revision;
    return { revision, results: results.map((r) => ({ ...summary(r.object), outcome: r.outcome, revision: r.revision })), ...(await waitFor(d, req.query, revision)) };
  });

  app.post('/api/v1/delete', async (req) => {
    const objects = validateAll(req.body, d.rootNamespace);
    const results = [];
    for (const o of objects) {
      const gone = await d.policies.delete(o.kind, o.metadata.namespace, o.metadata.name);
      results.push({ ...summary(o), outcome: gone ? 'deleted' : 'not-found' });
    }
    const revision = d.policies.revision;
    return { revision, results, ...(await waitFor(d, req.query, revision)) };
  });

  app.get<{ Params: { kind: string }; Querystring: { namespace?: string } }>('/api/v1/policies/:kind', (req, reply) => {
    const items = d.policies.list(kindOf(req.params.kind), req.query.namespace);
    return reply.send({ revision: d.policies.revision, items });
  });

  app.get<{ Params: { kind: string; namespace: string; name: string } }>('/api/v1/policies/:kind/:namespace/:name', (req, reply) => {
    const kind = kindOf(req.params.kind);
    const found = d.policies.get(kind, req.params.namespace, req.params.name);
    if (!found) throw new PolicyNotFoundError(kind, req.params.namespace, req.params.name);
    return reply.send(found);
  });

  app.put<{ Params: { kind: string; namespace: string; name: string } }>('/api/v1/policies/:kind/:namespace/:name', async (req) => {
    const kind = kindOf(req.params.kind);
    const [object] = validateAll({ documents: [req.body] }, d.rootNamespace);
    if (!object || object.kind !== kind || object.metadata.namespace !== req.params.namespace || object.metadata.name !== req.params.name) {
      throw new ConfigInvalidError([`body: kind, metadata.namespace and metadata.name must match the URL (${kind} ${req.params.namespace}/${req.params.name})`]);
    }
    const [r] = await d.policies.apply([object]);
    return { ...summary(object), outcome: r?.outcome, revision: r?.revision };
  });

  app.delete<{ Params: { kind: string; namespace: string; name: string } }>('/api/v1/policies/:kind/:namespace/:name', async (req) => {
    const kind = kindOf(req.params.kind);
    const gone = await d.policies.delete(kind, req.params.namespace, req.params.name);
    if (!gone) throw new PolicyNotFoundError(kind, req.params.namespace, req.params.name);
    return { kind, namespace: req.params.namespace, name: req.params.name, outcome: 'deleted', revision: d.policies.revision };
  });

  app.get<{ Querystring: { workload?: string; port?: string } }>('/api/v1/tls-check', (req, reply) => {
    const m = /^([a-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(req.query.workload ?? '');
    if (!m) throw new ConfigInvalidError([`workload: want NAMESPACE/WORKLOAD, got ${JSON.stringify(req.query.workload ?? '')}`]);
    const [, ns = '', name = ''] = m;
    const p = new Problems();
    const port = req.query.port === undefined ? undefined : p.int('port', req.query.port, { def: 0, min: 1, max: 65535 });
    p.throwIfAny();
    const regs = d.registry.registrations().map((r) => r.registration);
    // A workload is named by its instance id or by a service it backs.
    const target = regs.find((r) => r.namespace === ns && (r.workloadId === name || r.services.includes(`${name}.${ns}`)));
    if (!target) throw new WorkloadNotFoundError(ns, name);
    return reply.send(tlsCheck(d.policies.all(), target, regs, d.rootNamespace, port));
  });

  app.get('/api/v1/analyze', (_req, reply) => {
    const regs = d.registry.registrations().map((r) => r.registration);
    const findings = analyze(d.policies.all(), regs, d.certsToWatch(), d.rootNamespace, d.now());
    return reply.send({ errors: findings.filter((f) => f.severity === 'error').length, warnings: findings.filter((f) => f.severity === 'warning').length, findings });
  });

  app.get('/api/v1/proxies', (_req, reply) => reply.send({ revision: d.policies.revision, policy: d.policyService.status() }));
}
