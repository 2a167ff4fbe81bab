import type { HostPort } from '../../shared/config-check.js';

/** Where a service lives and who may serve it, as the registry knows it. */
export interface ResolvedDestination {
  /** The destination's sidecar inbound listener, or the plain app when it has no sidecar. */
  readonly address: HostPort;
  readonly hasSidecar: boolean;
  /** SPIFFE IDs allowed to serve this service (secure naming); empty for destinations without a sidecar. */
  readonly expectedIds: readonly string[];
}

/**
 * Service name + port → destination. Synchronous on purpose: the registry-backed implementation answers from
 * the endpoints the control plane streamed, never with a network call on the connection path.
 */
export interface Resolver {
  resolve(host: string, port: number): ResolvedDestination | undefined;
}

/** The key a service is known by; hosts are case-insensitive. */
export function serviceKey(host: string, port: number): string {
  return `${host.toLowerCase()}:${port}`;
}

/** A fixed table (tests, static configuration). Keys are `host:port`. */
export class StaticResolver implements Resolver {
  readonly #table: ReadonlyMap<string, ResolvedDestination>;
  constructor(entries: Record<string, ResolvedDestination> | ReadonlyMap<string, ResolvedDestination>) {
    const m = new Map<string, ResolvedDestination>();
    const pairs: Iterable<[string, ResolvedDestination]> = entries instanceof Map ? entries.entries() : Object.entries(entries);
    for (const [k, v] of pairs) m.set(k.toLowerCase(), v);
    this.#table = m;
  }
  resolve(host: string, port: number): ResolvedDestination | undefined {
    return this.#table.get(serviceKey(host, port));
  }
}
