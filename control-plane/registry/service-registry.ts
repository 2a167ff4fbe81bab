import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import type { ServiceEntryMsg } from '../../shared/registry-types.js';
import type { Registration } from './registration.js';

export interface RegistrySnapshot {
  readonly version: string;
  readonly services: readonly ServiceEntryMsg[];
}

/**
 * Live workloads and the services they serve. A workload is in the registry exactly while its
 * registry stream is open. Emits 'changed' (RegistrySnapshot) once per burst of changes.
 */
export class ServiceRegistry extends EventEmitter {
  readonly #byStream = new Map<number, Registration>();
  #snapshot: RegistrySnapshot = { version: 'empty', services: [] };
  #pending = false;

  register(streamId: number, reg: Registration): void {
    this.#byStream.set(streamId, reg);
    this.#changed();
  }

  deregister(streamId: number): void {
    if (this.#byStream.delete(streamId)) this.#changed();
  }

  snapshot(): RegistrySnapshot {
    if (this.#pending) this.#rebuild();
    return this.#snapshot;
  }

  registrations(): Registration[] {
    return [...this.#byStream.values()];
  }

  #changed(): void {
    if (this.#pending) return;
    this.#pending = true;
    // Coalesce a burst (a fleet reconnecting after a restart) into one push.
    setImmediate(() => {
      if (!this.#pending) return;
      this.#rebuild();
      this.emit('changed', this.#snapshot);
    });
  }

  #rebuild(): void {
    this.#pending = false;
    const entries = new Map<string, ServiceEntryMsg>();
    for (const reg of this.#byStream.values()) {
      for (const name of reg.services) {
        let e = entries.get(name);
        if (!e) {
          e = { name, ports: [], endpoints: [], spiffe_ids: [] };
          entries.set(name, e);
        }
        if (!e.spiffe_ids.includes(reg.spiffeId)) e.spiffe_ids.push(reg.spiffeId);
        for (const p of reg.ports) {
          if (!e.ports.some((q) => q.port === p.port)) e.ports.push({ port: p.port, protocol: p.protocol, inbound_address: '' });
          e.endpoints.push({ address: p.inboundAddress, port: p.port, spiffe_id: reg.spiffeId, has_sidecar: true, workload_id: reg.workloadId });
        }
      }
    }
    const services = [...entries.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const s of services) {
      s.ports.sort((a, b) => a.port - b.port);
      s.endpoints.sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port);
      s.spiffe_ids.sort();
    }
    const version = createHash('sha256').update(JSON.stringify(services)).digest('hex').slice(0, 16);
    this.#snapshot = { version, services };
  }
}
