import { isValidNamespace, spiffeId, type WorkloadIdentity } from '../../shared/spiffe.js';
import type { WorkloadMsg } from '../../shared/registry-types.js';
import { RegistrationRefusedError } from './errors.js';

export interface PortRegistration {
  readonly port: number;
  readonly protocol: 'http' | 'tcp';
  readonly inboundAddress: string;
}

export interface Registration {
  readonly workloadId: string;
  readonly spiffeId: string;
  readonly namespace: string;
  /** Fully qualified `<name>.<namespace>`. */
  readonly services: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly PortRegistration[];
}

const NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ADDRESS_RE = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * A workload may name services only in its own authenticated namespace: otherwise any workload could
 * make itself a valid server identity for another team's service.
 */
export function validateRegistration(w: WorkloadMsg | null | undefined, identity: WorkloadIdentity): Registration {
  if (!w) throw new RegistrationRefusedError('missing-workload', 'the first request must describe the workload');
  const services = w.services.map((raw) => {
    const [name = '', ns, ...rest] = raw.split('.');
    if (rest.length > 0 || !NAME_RE.test(name) || (ns !== undefined && !isValidNamespace(ns))) {
      throw new RegistrationRefusedError('bad-service-name', `${JSON.stringify(raw)} is not <name> or <name>.<namespace>`);
    }
    if (ns !== undefined && ns !== identity.namespace) {
      throw new RegistrationRefusedError('foreign-namespace', `workload ${spiffeId(identity)} may register services only in namespace ${identity.namespace}, not ${raw}`);
    }
    return `${name}.${identity.namespace}`;
  });
  const ports = w.ports.map((p): PortRegistration => {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new RegistrationRefusedError('bad-port', `service port ${p.port} is not 1..65535`);
    if (p.protocol !== 'http' && p.protocol !== 'tcp') throw new RegistrationRefusedError('bad-port', `port ${p.port}: protocol must be http or tcp, got ${JSON.stringify(p.protocol)}`);
    const m = ADDRESS_RE.exec(p.inbound_address);
    if (!m || Number(m[1]) > 65535 || Number(m[1]) === 0) {
      throw new RegistrationRefusedError('bad-address', `port ${p.port}: inbound address ${JSON.stringify(p.inbound_address)} is not host:port`);
    }
    return { port: p.port, protocol: p.protocol, inboundAddress: p.inbound_address };
  });
  return {
    workloadId: w.id,
    spiffeId: spiffeId(identity),
    namespace: identity.namespace,
    services: [...new Set(services)],
    labels: { ...w.labels },
    ports,
  };
}
