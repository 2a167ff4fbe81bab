import type { EventEmitter } from 'node:events';
import type { KeyObject } from 'node:crypto';

/** What the proxy currently holds: its key, its chain and the roots it trusts. Immutable; replaced whole on rotation. */
export interface IdentitySnapshot {
  /** spiffe://<td>/ns/<ns>/sa/<sa> of this workload. */
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly privateKey: KeyObject;
  /** PEM of the private key, for tls.createSecureContext (built once per snapshot, never written to disk). */
  readonly privateKeyPem: string;
  /** Leaf first, then issuing CA, then intermediates. */
  readonly chainPem: readonly string[];
  /** Roots of the trust bundle (several during a CA rotation). */
  readonly rootsPem: readonly string[];
  readonly serialHex: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly bundleVersion: string;
}

/**
 * The source of the current identity. Emits 'changed' (snapshot) whenever the certificate or the
 * trust bundle is replaced; listeners rebuild their TLS contexts once per change, not per connection.
 */
export interface IdentitySource extends EventEmitter {
  current(): IdentitySnapshot | undefined;
}
