import { EventEmitter } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logging.js';
import { asError } from '../../shared/errors.js';
import { spiffeId, type WorkloadIdentity } from '../../shared/spiffe.js';
import type { PolicyRequest, PolicyStreamServer, PolicyWorkloadMsg } from '../../shared/policy-types.js';
import { resolveWorkloadPolicy } from '../../shared/policy/index.js';
import { AuthError, authenticatePeerCertificate } from '../auth/index.js';
import type { PolicyStore, ChangeEvent } from '../policy/policy-store.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { TrustSource } from './secret-service.js';
import { toStatus } from './status-map.js';

export interface PolicyServiceDeps {
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly trust: TrustSource;
  readonly policies: PolicyStore;
  readonly metrics: ControlPlaneMetrics;
  readonly clock: Clock;
  readonly log: Logger;
}

/** One proxy's policy stream, as the REST API shows it. */
export interface PolicyProxyStatus {
  readonly stream: number;
  readonly spiffeId: string;
  readonly workload: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly sentVersion?: string;
  readonly sentRevision?: number;
  readonly ackedVersion?: string;
  readonly ackedRevision?: number;
  readonly lastNack?: { readonly version: string; readonly revision: number; readonly error: string; readonly at: string };
}

interface Conn {
  readonly id: number;
  readonly identity: WorkloadIdentity;
  readonly call: PolicyStreamServer;
  workload?: PolicyWorkloadMsg;
  sentVersion?: string;
  sentRevision?: number;
  ackedVersion?: string;
  ackedRevision?: number;
  lastNack?: { version: string; revision: number; error: string; at: string };
  readonly sent: Map<string, { version: string; revision: number }>;
}

interface PendingChange {
  readonly revision: number;
  readonly atMs: number;
  readonly waiting: Set<number>;
}

/**
 * The server side of PolicyDiscovery: resolves the stored policies for each connected workload, pushes
 * a new version whenever its resolution changes, records ACK/NACK per proxy, and measures push latency
 * (stored → every affected proxy ACKed). Emits 'ack', 'nack' (PolicyProxyStatus) and 'converged' (revision).
 */
export class PolicyService extends EventEmitter {
  readonly #conns = new Map<number, Conn>();
  readonly #pending: PendingChange[] = [];
  #next = 1;

  constructor(private readonly d: PolicyServiceDeps) {
    super();
    d.policies.on('changed', (ev: ChangeEvent) => this.#onChange(ev));
  }

  readonly handle = (call: PolicyStreamServer): void => {
    let identity: WorkloadIdentity;
    try {
      const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
      if (!raw) throw new AuthError('no-credential', 'the policy stream needs the workload certificate over mTLS');
      identity = authenticatePeerCertificate(raw, this.d.trust.issuers(), this.d.trustDomain, this.d.clock).identity;
    } catch (e) {
      this.d.log.warn({ peer: call.getPeer(), err: asError(e).message }, 'policy stream refused');
      call.emit('error', toStatus(e));
      return;
    }
    const conn: Conn = { id: this.#next++, identity, call, sent: new Map() };
    this.#conns.set(conn.id, conn);
    this.d.metrics.policyStreams.set(this.#conns.size);
    const close = (): void => {
      if (!this.#conns.delete(conn.id)) return;
      this.d.metrics.policyStreams.set(this.#conns.size);
      for (const p of this.#pending) p.waiting.delete(conn.id);
      this.#settle();
    };
    call.on('data', (req: PolicyRequest) => this.#onRequest(conn, req));
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('cancelled', close);
    call.on('error', close);
  };

  /**
   * Resolves true once every proxy affected by changes up to `revision` ACKed them (at once if none is
   * pending), false after `timeoutMs`. A NACKing proxy keeps the change pending.
   */
  waitConverged(revision: number, timeoutMs: number): Promise<boolean> {
    const done = (): boolean => !this.#pending.some((p) => p.revision <= revision);
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        cleanup();
        resolve(true);
      };
      const timer = this.d.clock.setTimer(timeoutMs, () => {
        cleanup();
        resolve(false);
      });
      const cleanup = (): void => {
        timer.cancel();
        this.off('converged', check);
      };
      this.on('converged', check);
    });
  }

  /** Proxies still owing an ACK for a change up to `revision`. */
  stragglers(revision: number): PolicyProxyStatus[] {
    const ids = new Set(this.#pending.filter((p) => p.revision <= revision).flatMap((p) => [...p.waiting]));
    return [...this.#conns.values()].filter((c) => ids.has(c.id)).map((c) => this.#status(c));
  }

  status(): PolicyProxyStatus[] {
    return [...this.#conns.values()].map((c) => this.#status(c));
  }

  /** Test hook and operator escape hatch: send this exact policy JSON to every stream of a workload. */
  pushRaw(spiffe: string, policyJson: string): number {
    let n = 0;
    for (const c of this.#conns.values()) {
      if (spiffeId(c.identity) !== spiffe || !c.workload) continue;
      this.#send(c, createHash('sha256').update(policyJson).digest('hex').slice(0, 16), policyJson, this.d.policies.revision);
      n++;
    }
    return n;
  }

  #onRequest(conn: Conn, req: PolicyRequest): void {
    if (req.workload && !conn.workload) {
      conn.workload = req.workload;
      this.#push(conn);
      return;
    }
    const sent = req.response_nonce ? conn.sent.get(req.response_nonce) : undefined;
    if (!sent) return;
    conn.sent.delete(req.response_nonce ?? '');
    if (req.error_detail?.message) {
      conn.lastNack = { version: sent.version, revision: sent.revision, error: req.error_detail.message, at: new Date(this.d.clock.now()).toISOString() };
      this.d.metrics.policyNacks.inc();
      this.d.log.warn({ stream: conn.id, spiffeId: spiffeId(conn.identity), version: sent.version, error: req.error_detail.message }, 'proxy NACKed a policy; it keeps enforcing its previous one');
      this.emit('nack', this.#status(conn));
      return;
    }
    conn.ackedVersion = sent.version;
    conn.ackedRevision = sent.revision;
    for (const p of this.#pending) if (p.revision <= sent.revision) p.waiting.delete(conn.id);
    this.#settle();
    this.emit('ack', this.#status(conn));
  }

  #onChange(ev: ChangeEvent): void {
    const waiting = new Set<number>();
    for (const c of this.#conns.values()) if (this.#push(c)) waiting.add(c.id);
    if (waiting.size > 0) this.#pending.push({ revision: ev.revision, atMs: ev.atMs, waiting });
    else this.emit('converged', ev.revision);
  }

  /** Resolves and sends when the result differs from what this proxy last got; true if sent. */
  #push(conn: Conn): boolean {
    if (!conn.workload) return false;
    const resolved = resolveWorkloadPolicy(
      this.d.policies.all(),
      { namespace: conn.identity.namespace, labels: conn.workload.labels, ports: conn.workload.ports, services: conn.workload.services },
      { rootNamespace: this.d.rootNamespace },
    );
    const json = JSON.stringify(resolved);
    const version = createHash('sha256').update(json).digest('hex').slice(0, 16);
    if (version === conn.sentVersion) return false;
    this.#send(conn, version, json, this.d.policies.revision);
    return true;
  }

  #send(conn: Conn, version: string, json: string, revision: number): void {
    const nonce = randomBytes(8).toString('hex');
    conn.sentVersion = version;
    conn.sentRevision = revision;
    conn.sent.set(nonce, { version, revision });
    conn.call.write({ version_info: version, nonce, policy_json: json, revision });
  }

  #settle(): void {
    for (let i = this.#pending.length - 1; i >= 0; i--) {
      const p = this.#pending[i];
      if (!p || p.waiting.size > 0) continue;
      this.#pending.splice(i, 1);
      this.d.metrics.policyPushSeconds.observe((this.d.clock.monotonic() - p.atMs) / 1000);
      this.emit('converged', p.revision);
    }
  }

  #status(c: Conn): PolicyProxyStatus {
    return {
      stream: c.id,
      spiffeId: spiffeId(c.identity),
      workload: c.workload?.id ?? '',
      labels: c.workload?.labels ?? {},
      ...(c.sentVersion !== undefined ? { sentVersion: c.sentVersion, sentRevision: c.sentRevision } : {}),
      ...(c.ackedVersion !== undefined ? { ackedVersion: c.ackedVersion, ackedRevision: c.ackedRevision } : {}),
      ...(c.lastNack ? { lastNack: c.lastNack } : {}),
    };
  }
}
