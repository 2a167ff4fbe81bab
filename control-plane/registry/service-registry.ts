import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import type { ServiceEntryMsg } from '../../shared/registry-types.js';
import type { Registration } from './registration.js';

export interface RegistrySnapshot {
  readonly version: string;
  readonly services: readonly ServiceEntryMsg[];
}

interface Entry {
  readonly reg: Registration;
  /** The stream that holds it; undefined for an entry restored from the store and not yet reconfirmed. */
  readonly owner: number | undefined;
}

/**
 * Workloads and the services they serve, keyed by workload (SPIFFE ID + instance id). A workload is
 * live while its registry stream is open; after a control plane restart, entries restored from the store
 * serve until their workload reconnects or the grace period ends, so that a restart does not make services
 * vanish for clients that reconnect first. Emits 'changed' (RegistrySnapshot) once per burst of changes.
 */
export class ServiceRegistry extends EventEmitter {
  readonly #entries = new Map<string, Entry>();
  #snapshot: RegistrySnapshot = { version: 'empty', services: [] };
  #pending = false;

  /** A live registration; a newer stream of the same workload takes over from an older one. */
  register(key: string, streamId: number, reg: Registration): void {
    this.#entries.set(key, { reg, owner: streamId });
    this.#changed();
  }

  /** Removes the entry only if this stream still owns it; true when it did. */
  deregister(key: string, streamId: number): boolean {
    if (this.#entries.get(key)?.owner !== streamId) return false;
    this.#entries.delete(key);
    this.#changed();
    return true;
  }

  restore(key: string, reg: Registration): void {
    if (this.#entries.has(key)) return;
    this.#entries.set(key, { reg, owner: undefined });
    this.#changed();
  }

  /** Drops restored entries whose workload did not come back; returns their keys. */
  dropUnconfirmed(): string[] {
    const gone = [...this.#entries].filter(([, e]) => e.owner === undefined).map(([k]) => k);
    for (const k of gone) this.#entries.delete(k);
    if (gone.length) this.#changed();
    return gone;
  }

  snapshot(): RegistrySnapshot {
    if (this.#pending) this.#rebuild();
    return this.#snapshot;
  }

  registrations(): { key: string; registration: Registration; live: boolean }[] {
    return [...this.#entries].map(([key, e]) => ({ key, registration: e.reg, live: e.owner !== undefined }));
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
    for (const { reg } of this.#entries.values()) {
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
