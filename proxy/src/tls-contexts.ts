import { EventEmitter } from 'node:events';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { asError } from '../../shared/errors.js';
import { MESH_ALPN } from '../../shared/secret-types.js';
import type { IdentitySnapshot, IdentitySource } from './identity/snapshot.js';

export { MESH_ALPN };
/** Passed as ALPNProtocols on every mesh socket (both sides). */
export const MESH_ALPN_PROTOCOLS: readonly string[] = Object.freeze([MESH_ALPN]);

export const TLS_MIN_VERSION = 'TLSv1.2';
/** TLS 1.3 suites (always ECDHE) first; for 1.2 peers, only ECDHE with AEAD. */
export const MESH_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
export const MESH_ECDH_CURVES = 'X25519:P-256:P-384';

/** The pair of contexts built from one snapshot; both are immutable once built. */
export interface MeshContexts {
  readonly snapshot: IdentitySnapshot;
  /** Presents our chain, requests a client certificate, trusts only the bundle roots. */
  readonly server: SecureContext;
  /** Presents our chain as client certificate, trusts only the bundle roots. */
  readonly client: SecureContext;
  /** Increments with every rebuild; tests and /config_dump see which generation a socket got. */
  readonly generation: number;
  /**
   * Client-side TLS sessions of this generation, one per destination (see connectMesh). Belongs to these
   * contexts, so a rotation or bundle change (a new generation) drops every one of them.
   */
  readonly sessions: SessionCache;
}

/** At most this many destinations keep a resumable session per generation (oldest dropped first). */
export const MAX_CACHED_SESSIONS = 1024;

/** A session to resume and the SPIFFE ID of the server that was verified on the connection that produced it. */
export interface CachedSession {
  readonly session: Buffer;
  readonly peerId: string;
}

/** A bounded map destination → the latest session ticket the server sent on a verified connection. */
export class SessionCache {
  readonly #byKey = new Map<string, CachedSession>();
  get(key: string): CachedSession | undefined {
    return this.#byKey.get(key);
  }
  set(key: string, session: CachedSession): void {
    this.#byKey.delete(key);
    this.#byKey.set(key, session);
    if (this.#byKey.size > MAX_CACHED_SESSIONS) {
      const oldest = this.#byKey.keys().next();
      if (!oldest.done) this.#byKey.delete(oldest.value);
    }
  }
  delete(key: string): void {
    this.#byKey.delete(key);
  }
  get size(): number {
    return this.#byKey.size;
  }
}

/** The session id context of the server contexts (OpenSSL refuses to resume a verified-client session without one). */
const SESSION_ID_CONTEXT = 'mtls-mesh';
/** TLS 1.3 caps a ticket's lifetime at 7 days. */
const MAX_TICKET_LIFETIME_S = 7 * 24 * 3600;

export interface TlsContextsEvents {
  /** New contexts are in use for new connections. */
  rebuilt: [MeshContexts];
  /** A snapshot could not be turned into contexts; the previous contexts stay in use. */
  'rebuild-failed': [Error, IdentitySnapshot];
}

/** Builds the server and client SecureContexts of one snapshot. Throws on bad key/chain PEM. */
export function buildMeshContexts(snapshot: IdentitySnapshot, generation: number): MeshContexts {
  const common: SecureContextOptions = {
    key: snapshot.privateKeyPem,
    // Leaf first, then the issuing CA and intermediates: the peer builds the path to a bundle root from them.
    cert: snapshot.chainPem.join('\n'),
    // Only the roots are trust anchors; never the issuing CA, never the system store.
    ca: [...snapshot.rootsPem],
    minVersion: TLS_MIN_VERSION,
    maxVersion: 'TLSv1.3',
    ciphers: MESH_CIPHERS,
    ecdhCurve: MESH_ECDH_CURVES,
    honorCipherOrder: true,
  };
  // Session tickets (resumption between sidecars) are sealed with keys that each server context draws at random
  // when it is built, and clients keep sessions per generation (MeshContexts.sessions): a rotation or bundle
  // change builds new contexts, so no session survives it and a resumed session never skips verification against
  // a bundle that changed since. A ticket also never outlives the certificate it was issued under.
  const server = createSecureContext({
    ...common,
    sessionIdContext: SESSION_ID_CONTEXT,
    sessionTimeout: Math.max(1, Math.min(MAX_TICKET_LIFETIME_S, Math.floor((snapshot.notAfterMs - Date.now()) / 1000))),
  });
  return {
    snapshot,
    server,
    client: createSecureContext(common),
    generation,
    sessions: new SessionCache(),
  };
}

/**
 * Holds ONE server and ONE client SecureContext for the current identity snapshot and rebuilds them on the
 * source's 'changed' (never per connection). New connections take the newest contexts; open connections keep
 * the ones they started with.
 */
export class TlsContexts extends EventEmitter<TlsContextsEvents> {
  readonly #source: IdentitySource;
  #current: MeshContexts | undefined;
  #generation = 0;

  constructor(source: IdentitySource) {
    super();
    this.#source = source;
    source.on('changed', this.#onChanged);
    const snap = source.current();
    if (snap) this.#build(snap);
  }

  /** The contexts for a new connection; undefined until the first snapshot arrives. */
  current(): MeshContexts | undefined {
    return this.#current;
  }

  /** The snapshot the current contexts were built from. */
  snapshot(): IdentitySnapshot | undefined {
    return this.#current?.snapshot;
  }

  /** Stops following the source. */
  close(): void {
    this.#source.removeListener('changed', this.#onChanged);
  }

  readonly #onChanged = (snap: IdentitySnapshot | undefined): void => {
    this.#build(snap ?? this.#source.current());
  };

  #build(snap: IdentitySnapshot | undefined): void {
    if (!snap || snap === this.#current?.snapshot) return;
    let built: MeshContexts;
    try {
      built = buildMeshContexts(snap, ++this.#generation);
    } catch (e) {
      this.emit('rebuild-failed', asError(e), snap);
      return;
    }
    this.#current = built;
    this.emit('rebuilt', built);
  }
}
