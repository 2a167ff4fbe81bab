import { EventEmitter } from 'node:events';
import type { HandshakeFailureReason } from './handshake-errors.js';

export type Direction = 'inbound' | 'outbound';
/** How the bytes travelled: terminated/originated mTLS, plaintext, or someone else's TLS passed through. */
export type TlsMode = 'mtls' | 'plaintext' | 'passthrough';

export interface ConnectionAccepted {
  readonly direction: Direction;
  readonly tlsMode: TlsMode;
  /** Listener name (see each listener's `name`). */
  readonly listener: string;
  /** The remote SPIFFE ID: the client's on inbound, the server's on outbound mTLS. */
  readonly peerId: string | undefined;
  /** This workload's SPIFFE ID when the connection was set up (undefined before the first certificate). */
  readonly localId: string | undefined;
  readonly remoteAddress: string | undefined;
  /** Serial of the certificate this proxy presented (mTLS only). */
  readonly localSerial: string | undefined;
}

export interface HandshakeFailure {
  readonly direction: Direction;
  readonly reason: HandshakeFailureReason;
  readonly listener: string;
  readonly peerAddress: string | undefined;
  readonly localId: string | undefined;
  /** What the peer presented, when it got that far. */
  readonly peerId: string | undefined;
  /** Outbound: the identities that would have been accepted. */
  readonly expectedIds: readonly string[] | undefined;
  readonly error: Error;
}

export interface ConnectionClosed {
  readonly direction: Direction;
  readonly tlsMode: TlsMode;
  readonly listener: string;
  readonly peerId: string | undefined;
  /** Bytes received from the downstream (the connection's initiator). */
  readonly bytesFromDownstream: number;
  /** Bytes received from the upstream. */
  readonly bytesFromUpstream: number;
  readonly durationMs: number;
  readonly error: Error | undefined;
  readonly idleTimedOut: boolean;
}

/** The upstream (the app on inbound, the destination on outbound) could not be reached or resolved. */
export interface UpstreamFailure {
  readonly direction: Direction;
  readonly listener: string;
  readonly target: string;
  readonly error: Error;
}

export interface ProxyEventMap {
  'connection-accepted': [ConnectionAccepted];
  'handshake-failure': [HandshakeFailure];
  'connection-closed': [ConnectionClosed];
  'upstream-failure': [UpstreamFailure];
}

/**
 * The data plane's events, one object per connection (never per chunk). Metrics and logs subscribe; tests
 * await them.
 */
export class ProxyEvents extends EventEmitter<ProxyEventMap> {}
