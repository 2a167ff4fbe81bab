import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { AuthzDenied, ConnectionAccepted, ConnectionClosed, HandshakeFailure, ProxyEvents, UpstreamFailure } from './events.js';
import type { IdentitySnapshot } from './identity/snapshot.js';
import { describeCert } from '../../shared/x509/cert-info.js';

/** Chain levels, as the alert rules name them. */
export type CertLevel = 'workload' | 'issuing' | 'intermediate' | 'root';

export interface CertInfo {
  readonly level: CertLevel;
  readonly serialHex: string;
  readonly subject: string;
  readonly issuer: string;
  readonly spiffeId: string | undefined;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly fingerprint256: string;
  readonly pem: string;
}

/** Every certificate of a snapshot with its level: leaf, issuing CA, intermediates, then the bundle roots. */
export function describeSnapshotCerts(snapshot: IdentitySnapshot): CertInfo[] {
  const out: CertInfo[] = [];
  const add = (pem: string, level: CertLevel): void => {
    const c = describeCert(pem);
    out.push({
      level,
      serialHex: c.serialHex,
      subject: c.subject,
      issuer: c.issuer,
      spiffeId: c.spiffeId,
      notBeforeMs: c.notBeforeMs,
      notAfterMs: c.notAfterMs,
      fingerprint256: c.fingerprint256,
      pem,
    });
  };
  snapshot.chainPem.forEach((pem, i) => add(pem, i === 0 ? 'workload' : i === 1 ? 'issuing' : 'intermediate'));
  for (const pem of snapshot.rootsPem) add(pem, 'root');
  return out;
}

export type RotationResult = 'success' | 'failure';

export interface ProxyMetricsOptions {
  readonly clock?: Clock;
  /** The snapshot whose certificates mesh_proxy_cert_expiry_seconds reports, read at scrape time. */
  readonly snapshot?: () => IdentitySnapshot | undefined;
}

/** Plaintext has no principal; the label still needs a value. */
export const UNKNOWN_PRINCIPAL = 'unknown';

/**
 * The proxy's Prometheus metrics in their own Registry (names are part of the interface, see DESIGN.md).
 * Fed from ProxyEvents: one label lookup per connection event, none per chunk; bytes are added at close.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  readonly connectionsTotal: Counter<'direction' | 'tls_mode' | 'source_principal'>;
  readonly activeConnections: Gauge<'direction'>;
  readonly handshakeFailuresTotal: Counter<'direction' | 'reason'>;
  readonly upstreamFailuresTotal: Counter<'direction'>;
  readonly authzDeniedTotal: Counter<'policy' | 'direction'>;
  readonly certExpirySeconds: Gauge<'level' | 'serial'>;
  readonly rotationsTotal: Counter<'result'>;
  readonly receivedBytesTotal: Counter<'direction' | 'tls_mode'>;
  readonly sentBytesTotal: Counter<'direction' | 'tls_mode'>;
  readonly connectionDurationSeconds: Histogram<'direction' | 'tls_mode'>;
  readonly #clock: Clock;
  readonly #snapshot: () => IdentitySnapshot | undefined;
  #certsOf: { snapshot: IdentitySnapshot; certs: CertInfo[] } | undefined;

  constructor(opts: ProxyMetricsOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#snapshot = opts.snapshot ?? (() => undefined);
    const registers = [this.registry];
    this.connectionsTotal = new Counter({
      name: 'mesh_proxy_connections_total',
      help: 'Connections accepted (inbound) or opened (outbound), by how they travelled and who the source was.',
      labelNames: ['direction', 'tls_mode', 'source_principal'],
      registers,
    });
    this.activeConnections = new Gauge({
      name: 'mesh_proxy_active_connections',
      help: 'Connections currently open.',
      labelNames: ['direction'],
      registers,
    });
    this.handshakeFailuresTotal = new Counter({
      name: 'mesh_proxy_handshake_failures_total',
      help: 'Handshakes that failed, by reason (closed list, see handshake-errors.ts).',
      labelNames: ['direction', 'reason'],
      registers,
    });
    this.upstreamFailuresTotal = new Counter({
      name: 'mesh_proxy_upstream_failures_total',
      help: 'Upstreams (the local app inbound, a destination outbound) that could not be resolved or reached.',
      labelNames: ['direction'],
      registers,
    });
    this.authzDeniedTotal = new Counter({
      name: 'mesh_proxy_authz_denied_total',
      help: 'Connections (TCP ports) and requests (HTTP ports) refused by authorization, by deciding policy (namespace/name, or (reason) when none decided).',
      labelNames: ['policy', 'direction'],
      registers,
    });
    const certs = (): CertInfo[] => this.#currentCerts();
    const clock = this.#clock;
    this.certExpirySeconds = new Gauge({
      name: 'mesh_proxy_cert_expiry_seconds',
      help: 'Seconds until each certificate of the current chain and trust bundle expires, by level.',
      labelNames: ['level', 'serial'],
      registers,
      collect() {
        this.reset();
        const now = clock.now();
        for (const c of certs()) this.labels(c.level, c.serialHex).set((c.notAfterMs - now) / 1000);
      },
    });
    this.rotationsTotal = new Counter({
      name: 'mesh_proxy_rotations_total',
      help: 'Certificate renewals, by result.',
      labelNames: ['result'],
      registers,
    });
    this.receivedBytesTotal = new Counter({
      name: 'mesh_proxy_received_bytes_total',
      help: 'Bytes received from the downstream (the side that opened the connection), counted at close.',
      labelNames: ['direction', 'tls_mode'],
      registers,
    });
    this.sentBytesTotal = new Counter({
      name: 'mesh_proxy_sent_bytes_total',
      help: 'Bytes received from the upstream and sent to the downstream, counted at close.',
      labelNames: ['direction', 'tls_mode'],
      registers,
    });
    this.connectionDurationSeconds = new Histogram({
      name: 'mesh_proxy_connection_duration_seconds',
      help: 'How long connections stayed open.',
      labelNames: ['direction', 'tls_mode'],
      buckets: [0.005, 0.05, 0.5, 5, 60, 600, 3600],
      registers,
    });
  }

  recordRotation(result: RotationResult): void {
    this.rotationsTotal.labels(result).inc();
  }

  /** Subscribes to the data plane's events; returns the unsubscribe. */
  attach(events: ProxyEvents): () => void {
    const onAccepted = (e: ConnectionAccepted): void => {
      const principal = (e.direction === 'inbound' ? e.peerId : e.localId) ?? UNKNOWN_PRINCIPAL;
      this.connectionsTotal.labels(e.direction, e.tlsMode, principal).inc();
      this.activeConnections.labels(e.direction).inc();
    };
    const onClosed = (e: ConnectionClosed): void => {
      this.activeConnections.labels(e.direction).dec();
      this.receivedBytesTotal.labels(e.direction, e.tlsMode).inc(e.bytesFromDownstream);
      this.sentBytesTotal.labels(e.direction, e.tlsMode).inc(e.bytesFromUpstream);
      this.connectionDurationSeconds.labels(e.direction, e.tlsMode).observe(e.durationMs / 1000);
    };
    const onFailure = (e: HandshakeFailure): void => {
      this.handshakeFailuresTotal.labels(e.direction, e.reason).inc();
    };
    const onUpstream = (e: UpstreamFailure): void => {
      this.upstreamFailuresTotal.labels(e.direction).inc();
    };
    const onDenied = (e: AuthzDenied): void => {
      this.authzDeniedTotal.labels(e.label, e.direction).inc();
    };
    events.on('connection-accepted', onAccepted);
    events.on('connection-closed', onClosed);
    events.on('handshake-failure', onFailure);
    events.on('upstream-failure', onUpstream);
    events.on('authz-denied', onDenied);
    return () => {
      events.off('authz-denied', onDenied);
      events.off('connection-accepted', onAccepted);
      events.off('connection-closed', onClosed);
      events.off('handshake-failure', onFailure);
      events.off('upstream-failure', onUpstream);
    };
  }

  #currentCerts(): CertInfo[] {
    const snap = this.#snapshot();
    if (!snap) return [];
    if (this.#certsOf?.snapshot !== snap) this.#certsOf = { snapshot: snap, certs: describeSnapshotCerts(snap) };
    return this.#certsOf.certs;
  }
}
