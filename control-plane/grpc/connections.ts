import { EventEmitter } from 'node:events';
import type { WorkloadIdentity } from '../../shared/spiffe.js';
import type { NodeInfo, SecretResponse, SecretStreamServer } from '../../shared/secret-types.js';

export type CredentialKind = 'token' | 'certificate';

/** One open secret stream: who is on it, what it was last sent and what it acknowledged. */
export interface ProxyConnection {
  readonly streamId: number;
  readonly identity: WorkloadIdentity;
  readonly credential: CredentialKind;
  readonly peer: string;
  readonly connectedAtMs: number;
  node?: NodeInfo;
  /** The nonce of the last response sent and not yet ACKed/NACKed. */
  pendingNonce?: string;
  ackedVersion?: string;
  ackedBundleVersion?: string;
  lastNack?: { version: string; message: string; atMs: number };
  certSerial?: string;
  certNotAfterMs?: number;
  readonly call: SecretStreamServer;
  /** Nonce → bundle version, to know which bundle an ACK confirms. */
  readonly sentBundles: Map<string, string>;
}

/**
 * The set of open streams, for pushes (CA rotation) and status. Emits 'ack' and 'nack' (ProxyConnection)
 * when a proxy answers a response, so that callers wait for the event instead of polling.
 */
export class Connections extends EventEmitter {
  readonly #open = new Map<number, ProxyConnection>();
  #next = 1;

  add(init: Omit<ProxyConnection, 'streamId' | 'sentBundles'>): ProxyConnection {
    const conn: ProxyConnection = { ...init, streamId: this.#next++, sentBundles: new Map() };
    this.#open.set(conn.streamId, conn);
    return conn;
  }
  remove(conn: ProxyConnection): boolean {
    return this.#open.delete(conn.streamId);
  }
  get size(): number {
    return this.#open.size;
  }
  all(): ProxyConnection[] {
    return [...this.#open.values()];
  }
  /** Records the proxy's answer to the response with `nonce`; an unknown nonce is a stale answer and only logged by the caller. */
  answer(conn: ProxyConnection, nonce: string, version: string, nackMessage: string | undefined, nowMs: number): 'ack' | 'nack' {
    const bundleVersion = conn.sentBundles.get(nonce);
    conn.sentBundles.delete(nonce);
    if (nonce === conn.pendingNonce) conn.pendingNonce = undefined;
    if (nackMessage) {
      conn.lastNack = { version, message: nackMessage, atMs: nowMs };
      this.emit('nack', conn);
      return 'nack';
    }
    conn.ackedVersion = version;
    if (bundleVersion !== undefined) conn.ackedBundleVersion = bundleVersion;
    this.emit('ack', conn);
    return 'ack';
  }

  send(conn: ProxyConnection, res: SecretResponse): void {
    conn.pendingNonce = res.nonce;
    if (res.trust_bundle) conn.sentBundles.set(res.nonce, res.trust_bundle.version);
    conn.call.write(res);
  }
}
