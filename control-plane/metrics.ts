import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

/** Every control plane metric, in one registry served at GET /metrics. Names are part of the interface. */
export class ControlPlaneMetrics {
  readonly registry = new Registry();

  readonly csrSigned = new Counter({
    name: 'mesh_ca_csr_signed_total',
    help: 'CSRs verified and signed.',
    registers: [this.registry],
  });
  readonly csrRefused = new Counter({
    name: 'mesh_ca_csr_refused_total',
    help: 'CSRs refused, by the rule they broke.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly signingSeconds = new Histogram({
    name: 'mesh_ca_signing_duration_seconds',
    help: 'Time to check and sign one CSR.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [this.registry],
  });
  readonly caExpiry = new Gauge({
    name: 'mesh_ca_cert_expiry_timestamp_seconds',
    help: 'notAfter of each CA certificate, by level of the hierarchy (root, intermediate, issuing).',
    labelNames: ['level', 'serial'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'mesh_cp_auth_failures_total',
    help: 'Workload credentials refused on the secret stream, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly connectedProxies = new Gauge({
    name: 'mesh_cp_connected_proxies',
    help: 'Secret streams currently open.',
    registers: [this.registry],
  });
  readonly nacks = new Counter({
    name: 'mesh_cp_secret_nacks_total',
    help: 'Secret responses a proxy refused to apply (NACK).',
    registers: [this.registry],
  });

  readonly policyPushSeconds = new Histogram({
    name: 'mesh_cp_policy_push_duration_seconds',
    help: 'From a policy change being stored to every affected proxy having ACKed it.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly policyNacks = new Counter({
    name: 'mesh_cp_policy_nacks_total',
    help: 'Policy versions a proxy refused to apply (NACK); it keeps enforcing the previous one.',
    registers: [this.registry],
  });
  readonly policyStreams = new Gauge({
    name: 'mesh_cp_policy_streams',
    help: 'Policy streams currently open.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mesh_cp_process_' });
  }

  setCaLevels(levels: readonly { level: string; serialHex: string; notAfterMs: number }[]): void {
    this.caExpiry.reset();
    for (const l of levels) this.caExpiry.set({ level: l.level, serial: l.serialHex }, Math.floor(l.notAfterMs / 1000));
  }
}
