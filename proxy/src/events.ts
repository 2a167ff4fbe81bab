import { EventEmitter } from 'node:events';
import { LogRateLimit } from './log-rate-limit.js';
import { errnoCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/logging.js';
import type { MtlsMode } from '../../shared/policy/types.js';
import { explainHandshakeFailure, type HandshakeFailureReason } from './handshake-errors.js';

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

/**
 * Authorization refused a connection (L4, TCP ports and passed-through TLS) or a request (L7, HTTP ports).
 * `live`: an open connection closed because a policy change denies it now.
 */
export interface AuthzDenied {
  readonly direction: Direction;
  readonly listener: string;
  readonly layer: 'tcp' | 'http';
  /** `namespace/name` of the deciding policy; undefined when no ALLOW policy matched or the path was refused. */
  readonly policy: string | undefined;
  readonly reason: 'deny-matched' | 'no-allow-matched' | 'bad-path';
  /** The metric label: the policy, or `(reason)` when no single policy decided. */
  readonly label: string;
  readonly peerId: string | undefined;
  readonly remoteAddress: string | undefined;
  /** L7: the method and request-target as received. */
  readonly method: string | undefined;
  readonly target: string | undefined;
  readonly live: boolean;
}

/** An open connection closed because the port's mode changed to one that refuses it (plaintext → STRICT). */
export interface ConnectionEvicted {
  readonly direction: Direction;
  readonly listener: string;
  readonly tlsMode: TlsMode;
  readonly peerId: string | undefined;
  readonly remoteAddress: string | undefined;
  readonly mode: MtlsMode;
}

export interface ProxyEventMap {
  'connection-accepted': [ConnectionAccepted];
  'handshake-failure': [HandshakeFailure];
  'connection-closed': [ConnectionClosed];
  'upstream-failure': [UpstreamFailure];
  'authz-denied': [AuthzDenied];
  'connection-evicted': [ConnectionEvicted];
}

/**
 * The data plane's events, one object per connection (never per chunk). Metrics and logs subscribe; tests
 * await them.
 */
export class ProxyEvents extends EventEmitter<ProxyEventMap> {}

/**
 * Logs the events an operator needs: every handshake failure (warn, with the peer address, both identities and
 * the reason in words) and every unreachable upstream; connections only at debug. Returns the unsubscribe.
 */
export function logProxyEvents(events: ProxyEvents, log: Logger, limit: LogRateLimit = new LogRateLimit()): () => void {
  const onFailure = (e: HandshakeFailure): void => {
    const dropped = limit.take(`${e.direction}:${e.reason}`);
    if (dropped === undefined) return;
    log.warn(
      {
        ...(dropped > 0 ? { suppressedSinceLastLine: dropped } : {}),
        direction: e.direction,
        reason: e.reason,
        listener: e.listener,
        peerAddress: e.peerAddress,
        localId: e.localId,
        peerId: e.peerId,
        expectedIds: e.expectedIds,
        code: errnoCode(e.error),
        error: e.error.message,
      },
      `${e.direction} handshake failed (${e.reason}): ${explainHandshakeFailure(e.reason)}`,
    );
  };
  const onUpstream = (e: UpstreamFailure): void => {
    const dropped = limit.take(`upstream:${e.target}`);
    if (dropped === undefined) return;
    log.warn({ direction: e.direction, listener: e.listener, target: e.target, code: errnoCode(e.error), error: e.error.message, ...(dropped > 0 ? { suppressedSinceLastLine: dropped } : {}) }, `cannot reach ${e.target}`);
  };
  const onAccepted = (e: ConnectionAccepted): void => {
    if (log.isLevelEnabled('debug')) log.debug({ ...e }, `${e.direction} connection (${e.tlsMode})`);
  };
  const onClosed = (e: ConnectionClosed): void => {
    if (log.isLevelEnabled('debug')) log.debug({ ...e, error: e.error?.message }, `${e.direction} connection closed`);
  };
  // Denials are what policy is for: counted always (mesh_proxy_authz_denied_total), logged only at debug so
  // that a denied client in a loop cannot flood the log.
  const onDenied = (e: AuthzDenied): void => {
    if (log.isLevelEnabled('debug')) log.debug({ ...e }, `${e.direction} ${e.layer} ${e.live ? 'connection closed' : 'denied'} by authorization (${e.label})`);
  };
  // Per connection at debug: a switch to STRICT may close thousands at once (the listener logs one summary).
  const onEvicted = (e: ConnectionEvicted): void => {
    if (log.isLevelEnabled('debug')) log.debug({ ...e }, `${e.direction} ${e.tlsMode} connection closed: port is now ${e.mode}`);
  };
  events.on('handshake-failure', onFailure);
  events.on('upstream-failure', onUpstream);
  events.on('connection-accepted', onAccepted);
  events.on('connection-closed', onClosed);
  events.on('authz-denied', onDenied);
  events.on('connection-evicted', onEvicted);
  return () => {
    events.off('authz-denied', onDenied);
    events.off('connection-evicted', onEvicted);
    events.off('handshake-failure', onFailure);
    events.off('upstream-failure', onUpstream);
    events.off('connection-accepted', onAccepted);
    events.off('connection-closed', onClosed);
  };
}
