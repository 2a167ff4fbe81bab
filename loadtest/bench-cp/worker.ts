/**
 * Worker process of `bench:control-plane` (forked by loadtest/bench-control-plane.ts; IPC only).
 * Simulates `count` proxies as bare stream clients: each has its own P-256 key and CSR (made before
 * the clock starts), opens a secret stream with a bootstrap token, gets its certificate, then opens a
 * policy stream over mTLS with that certificate (its own channel: a client certificate is per
 * channel) and ACKs every policy version. Both streams stay open, as a proxy keeps them.
 *
 * Messages in (from the parent): `init` (WorkerInit), `go` (start all secret streams now), `report`
 * (send the push timestamps), `stop`. Messages out: `ready`, `certified`, `synced`, `progress`,
 * `failed`, `pushes`. Times are wall-clock milliseconds with sub-ms precision
 * (performance.timeOrigin + performance.now()) so that the parent can compare them across processes.
 */
import * as grpc from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { SecretSession } from '../../proxy/src/identity/secret-session.js';
import { checkControlPlane } from '../../proxy/src/control-plane-channel.js';
import { CHANNEL_OPTIONS } from '../../proxy/src/control-plane-channel.js';
import { policyDiscovery, type PolicyResponse, type PolicyStreamClient } from '../../shared/policy-types.js';
import { secretDiscovery, type SecretRequest, type SecretResponse } from '../../shared/secret-types.js';
import type { PolicyRequest } from '../../shared/policy-types.js';
import { H2Stream } from './h2-stream.js';
import { controlPlaneSpiffeId, spiffeId } from '../../shared/spiffe.js';
import { createCsr } from '../../shared/x509/csr-build.js';
import type { ParentMessage, WorkerInit, WorkerMessage } from './protocol.js';

const wallNow = (): number => performance.timeOrigin + performance.now();

interface SimProxy {
  readonly index: number;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly token: string;
  readonly keyPem: string;
  readonly csrPem: string;
  /** h2 client: the policy stream's TLS context with roots and key loaded before the clock starts; the chain goes in later. */
  readonly policyContext: SecureContext | undefined;
  session?: SecretSession;
  h2Secret?: H2Stream<SecretRequest>;
  h2Policy?: H2Stream<PolicyRequest>;
  client?: grpc.Client;
  call?: PolicyStreamClient;
  certifiedAt?: number;
  syncedAt?: number;
  /** Arrival time of each policy version after the first one (the ACK is written in the same tick). */
  readonly pushes: { version: string; revision: number; at: number }[];
}

const send = (m: WorkerMessage): void => {
  process.send?.(m);
};

let proxies: SimProxy[] = [];
let init: WorkerInit | undefined;
let certified = 0;
let synced = 0;
let failed = 0;
let elu0: EventLoopUtilization | undefined;

function prepare(w: WorkerInit): void {
  init = w;
  proxies = [];
  for (let k = 0; k < w.count; k++) {
    const index = w.firstIndex + k;
    const id = w.identities[index % w.identities.length];
    if (!id) throw new Error('no identity');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const identity = { trustDomain: w.trustDomain, namespace: id.namespace, serviceAccount: id.serviceAccount };
    const csrPem = createCsr({ privateKey, publicKey, uri: spiffeId(identity) });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    proxies.push({
      index,
      namespace: id.namespace,
      serviceAccount: id.serviceAccount,
      token: id.token,
      keyPem,
      csrPem,
      policyContext: w.client === 'h2' ? createSecureContext({ ca: w.rootsPem, key: keyPem }) : undefined,
      pushes: [],
    });
  }
}

function fail(p: SimProxy, stage: string, err: unknown): void {
  failed++;
  const e = err as { details?: string; message?: string } | undefined;
  send({ type: 'failed', index: p.index, stage, error: e?.details ?? e?.message ?? String(err) });
}

let bootstrapContext: SecureContext | undefined;

function startSecret(p: SimProxy, w: WorkerInit): void {
  if (w.client === 'h2') {
    bootstrapContext ??= createSecureContext({ ca: w.rootsPem });
    const s = new H2Stream<SecretRequest>({
      target: w.target,
      secureContext: bootstrapContext,
      expectedServerId: controlPlaneSpiffeId(w.trustDomain),
      method: secretDiscovery().service.StreamSecrets as never,
      metadata: { authorization: `Bearer ${p.token}` },
    });
    p.h2Secret = s;
    wireSecret(p, w, s, 'message');
    return;
  }
  const session = new SecretSession(w.target, { rootsPem: w.rootsPem, token: p.token }, w.trustDomain);
  p.session = session;
  wireSecret(p, w, session, 'response');
}

function wireSecret(p: SimProxy, w: WorkerInit, session: (SecretSession | H2Stream<SecretRequest>) & { send(r: SecretRequest): void }, event: string): void {
  session.on(event, (res: SecretResponse) => {
    if (!res.certificate) {
      // A push (trust bundle): ACK it like a proxy would.
      session.send({ version_info: res.version_info, response_nonce: res.nonce });
      return;
    }
    session.send({ version_info: res.version_info, response_nonce: res.nonce });
    if (p.certifiedAt !== undefined) return;
    p.certifiedAt = wallNow();
    certified++;
    if (certified + failed === proxies.length) send({ type: 'certified', count: certified, failed, lastAt: lastOf((q) => q.certifiedAt), eventLoopUtilization: performance.eventLoopUtilization(elu0).utilization });
    startPolicy(p, w, res.certificate.pem, res.trust_bundle?.root_pem ?? []);
  });
  session.on('closed', (err?: Error) => {
    if (p.certifiedAt === undefined) fail(p, 'secret', err ?? new Error('secret stream ended before a certificate'));
  });
  session.send({
    node: { id: `bench-${p.index}`, namespace: p.namespace, service_account: p.serviceAccount, proxy_version: 'bench' },
    csr_pem: p.csrPem,
    requested_ttl_seconds: 0,
  });
}

function startPolicy(p: SimProxy, w: WorkerInit, chainPem: string[], roots: string[]): void {
  const expected = controlPlaneSpiffeId(w.trustDomain);
  if (w.client === 'h2') {
    const s = new H2Stream<PolicyRequest>({
      target: w.target,
      secureContext: policyContext(p, w, chainPem, roots),
      expectedServerId: expected,
      method: policyDiscovery().service.StreamPolicy as never,
    });
    p.h2Policy = s;
    s.on('message', (res: PolicyResponse) => onPolicy(p, res, (r) => s.send(r)));
    s.on('closed', (err?: Error) => {
      if (p.syncedAt === undefined || err) fail(p, 'policy', err ?? new Error('policy stream ended'));
    });
    s.send({ workload: workload(p), version_info: '' });
    return;
  }
  const creds = grpc.credentials.createSsl(Buffer.from([w.rootsPem, ...roots].join('\n')), Buffer.from(p.keyPem), Buffer.from(chainPem.join('')), {
    checkServerIdentity: (_h: string, cert: PeerCertificate) => checkControlPlane(cert, expected),
  });
  const Client = policyDiscovery();
  const client = new Client(w.target, creds, CHANNEL_OPTIONS);
  const call = (client as unknown as { StreamPolicy(): PolicyStreamClient }).StreamPolicy();
  p.client = client;
  p.call = call;
  call.on('data', (res: PolicyResponse) => onPolicy(p, res, (r) => call.write(r)));
  call.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED || p.syncedAt === undefined) fail(p, 'policy', err);
  });
  call.write({ workload: workload(p), version_info: '' });
}

/**
 * The pre-built context plus the new chain when the bundle holds no root beyond the bootstrap one
 * (the usual case); a fresh context otherwise. `context.setCert` is what tls.createSecureContext
 * itself calls for `cert`.
 */
function policyContext(p: SimProxy, w: WorkerInit, chainPem: string[], roots: string[]): SecureContext {
  const norm = (pem: string): string => pem.replace(/\s+/g, '');
  const known = norm(w.rootsPem);
  const ctx = p.policyContext;
  if (ctx && roots.every((r) => known.includes(norm(r)))) {
    (ctx.context as { setCert(cert: string): void }).setCert(chainPem.join(''));
    return ctx;
  }
  return createSecureContext({ ca: [w.rootsPem, ...roots], key: p.keyPem, cert: chainPem.join('') });
}

function workload(p: SimProxy): PolicyRequest['workload'] {
  return { id: `bench-${p.index}`, labels: { app: p.serviceAccount }, ports: [8080], services: [] };
}

/** ACKs at once, then records: the first version marks the proxy synced; later ones are pushes. */
function onPolicy(p: SimProxy, res: PolicyResponse, write: (r: PolicyRequest) => void): void {
    const at = wallNow();
    write({ version_info: res.version_info, response_nonce: res.nonce });
    if (p.syncedAt === undefined) {
      p.syncedAt = at;
      synced++;
      if (synced % 500 === 0) send({ type: 'progress', certified, synced });
      if (synced + failed === proxies.length) send({ type: 'synced', count: synced, failed, lastAt: lastOf((q) => q.syncedAt) });
      return;
    }
    p.pushes.push({ version: res.version_info, revision: res.revision, at });
}

function lastOf(f: (p: SimProxy) => number | undefined): number {
  let m = 0;
  for (const p of proxies) m = Math.max(m, f(p) ?? 0);
  return m;
}

function stopAll(): void {
  for (const p of proxies) {
    p.call?.cancel();
    p.client?.close();
    p.session?.close();
    p.h2Secret?.close();
    p.h2Policy?.close();
  }
}

process.on('message', (raw: unknown) => {
  const m = raw as ParentMessage;
  switch (m.type) {
    case 'init': {
      const t0 = performance.now();
      prepare(m.init);
      send({ type: 'ready', keygenMs: performance.now() - t0, rssBytes: process.memoryUsage().rss });
      break;
    }
    case 'go': {
      const w = init;
      if (!w) throw new Error('go before init');
      elu0 = performance.eventLoopUtilization();
      // Mass restart: every secret stream is opened in this one tick.
      for (const p of proxies) startSecret(p, w);
      break;
    }
    case 'report':
      send({
        type: 'pushes',
        rssBytes: process.memoryUsage().rss,
        cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
        items: proxies.map((p) => ({ index: p.index, certifiedAt: p.certifiedAt ?? 0, syncedAt: p.syncedAt ?? 0, pushes: p.pushes })),
      });
      break;
    case 'stop':
      stopAll();
      setTimeout(() => process.exit(0), 200).unref();
      process.disconnect();
      break;
  }
});
