import { isIP } from 'node:net';
import type { ServiceEntryMsg } from '../../../shared/registry-types.js';
import type { Resolver, ResolvedDestination } from '../resolver.js';

export interface Resolved extends ResolvedDestination {
  /** `<name>.<namespace>` when the destination is a mesh service. */
  readonly service: string | undefined;
}

export type OutboundPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

/**
 * Turns `httpbin.foo:8000` into an endpoint from the registry snapshot. Names are accepted as
 * `name` (own namespace), `name.ns`, `name.ns.svc` and `name.ns.svc.<cluster domain>`. With ALLOW_ANY,
 * destinations outside the mesh are reached directly in plaintext, as Istio does.
 */
export class RegistryResolver implements Resolver {
  #byName = new Map<string, ServiceEntryMsg>();
  #next = 0;

  constructor(
    private readonly ownNamespace: string,
    private readonly policy: OutboundPolicy,
  ) {}

  update(services: readonly ServiceEntryMsg[]): void {
    const m = new Map<string, ServiceEntryMsg>();
    for (const s of services) m.set(s.name, s);
    this.#byName = m;
  }

  resolve(host: string, port: number): Resolved | undefined {
    const name = this.#serviceName(host);
    const entry = name ? this.#byName.get(name) : undefined;
    if (entry) {
      const eps = entry.endpoints.filter((e) => e.port === port);
      if (eps.length === 0) return undefined;
      // Round-robin per connection across the service's endpoints.
      const ep = eps[this.#next++ % eps.length];
      if (!ep) return undefined;
      const colon = ep.address.lastIndexOf(':');
      const epHost = ep.address.slice(0, colon).replace(/^\[|\]$/g, '');
      return {
        address: { host: epHost, port: Number(ep.address.slice(colon + 1)) },
        hasSidecar: ep.has_sidecar,
        expectedIds: ep.has_sidecar ? entry.spiffe_ids : [],
        service: entry.name,
      };
    }
    if (this.policy === 'REGISTRY_ONLY') return undefined;
    if (isIP(host) === 0 && name !== undefined && this.#looksInternal(host)) return undefined;
    return { address: { host, port }, hasSidecar: false, expectedIds: [], service: undefined };
  }

  #serviceName(host: string): string | undefined {
    const parts = host.toLowerCase().replace(/\.$/, '').split('.');
    if (parts.length === 1) return `${parts[0]}.${this.ownNamespace}`;
    if (parts.length === 2 || parts[2] === 'svc') return `${parts[0]}.${parts[1]}`;
    return undefined;
  }

  /** `x.y.svc…` names belong to the cluster: unknown ones are a typo or a dead service, not the internet. */
  #looksInternal(host: string): boolean {
    return host.toLowerCase().split('.')[2] === 'svc';
  }
}
