import { EventEmitter } from 'node:events';
import { RESOLVED_POLICY_SCHEMA, type MtlsMode, type ResolvedWorkloadPolicy } from '../../../shared/policy/types.js';
import type { SniffKind } from '../sniff.js';

export { parseResolvedPolicy, validateResolvedPolicy } from './parse-policy.js';

/**
 * Before the control plane sent anything: PERMISSIVE everywhere, client TLS by auto mTLS, no authorization.
 * A workload being migrated must keep receiving plaintext until a policy says otherwise.
 */
export const DEFAULT_WORKLOAD_POLICY: ResolvedWorkloadPolicy = Object.freeze({
  schema: RESOLVED_POLICY_SCHEMA,
  inboundMode: 'PERMISSIVE',
  portModes: Object.freeze({}),
  clientTls: Object.freeze([]),
  authorization: Object.freeze([]),
});

/** The effective inbound mode of a workload port (the port PeerAuthentication portLevelMtls names). */
export function inboundModeFor(policy: ResolvedWorkloadPolicy, port: number): MtlsMode {
  return policy.portModes[String(port)] ?? policy.inboundMode;
}

/**
 * May a connection whose first bytes are `kind` reach a port in `mode`?
 * - STRICT: mesh mTLS only. Plaintext and the app's own TLS (no mesh ALPN: plaintext as far as the mesh is
 *   concerned, nobody authenticated the client) are refused.
 * - PERMISSIVE: everything; mesh mTLS is terminated, the rest goes to the app as it came.
 * - DISABLE: plaintext and the app's own TLS only. A mesh-ALPN ClientHello is refused (the listener answers
 *   it with a TLS no_application_protocol alert, reason `protocol`) rather than terminated or passed on:
 *   Istio's DISABLE sidecar does not terminate mTLS either, and would hand the app TLS bytes it cannot read;
 *   refusing at the proxy makes the failure visible and classified on both sides instead. Clients reach a
 *   DISABLE port in plaintext through a DestinationRule `tls.mode: DISABLE` (this proxy has no signal that
 *   would let a client's auto mTLS learn the server's mode).
 */
export function admitsInbound(mode: MtlsMode, kind: SniffKind): boolean {
  switch (mode) {
    case 'PERMISSIVE':
      return true;
    case 'STRICT':
      return kind === 'mesh-mtls';
    case 'DISABLE':
      return kind !== 'mesh-mtls';
  }
}

export interface PolicyStateEvents {
  /** A new policy is in force: (next, previous). Listeners run synchronously inside `apply`. */
  changed: [ResolvedWorkloadPolicy, ResolvedWorkloadPolicy];
}

/**
 * The policy this proxy enforces right now. Connections read `current()` once when they are set up (and HTTP
 * ports once per request for authorization); open connections follow a change through the 'changed' event.
 */
export class PolicyState extends EventEmitter<PolicyStateEvents> {
  #current: ResolvedWorkloadPolicy;
  #version: string | undefined;

  constructor(initial: ResolvedWorkloadPolicy = DEFAULT_WORKLOAD_POLICY) {
    super();
    // Every inbound listener subscribes: a workload with many ports is not a leak.
    this.setMaxListeners(0);
    this.#current = initial;
  }

  current(): ResolvedWorkloadPolicy {
    return this.#current;
  }

  /** The control plane's version_info of the policy in force; undefined for the default. */
  get version(): string | undefined {
    return this.#version;
  }

  /**
   * Puts a validated policy in force (see parseResolvedPolicy) and tells the listeners, which close the open
   * connections the new policy no longer admits.
   */
  apply(next: ResolvedWorkloadPolicy, version?: string): void {
    const previous = this.#current;
    this.#current = next;
    this.#version = version;
    this.emit('changed', next, previous);
  }

  inboundMode(port: number): MtlsMode {
    return inboundModeFor(this.#current, port);
  }

  /** For /config_dump. */
  describe(): Record<string, unknown> {
    return { version: this.#version ?? null, ...this.#current };
  }
}
