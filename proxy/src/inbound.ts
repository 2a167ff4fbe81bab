import { createConnection, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from '../../shared/logging.js';
import type { AuthzDecision, ResolvedWorkloadPolicy } from '../../shared/policy/types.js';
import type { CoarseTimer } from './coarse-timer.js';
import type { AuthzDenied, ProxyEvents, TlsMode } from './events.js';
import { HandshakeError, handshakeFailureReason, toHandshakeError } from './handshake-errors.js';
import { HeaderId, expectationOf, localResponse, rewriteHead, ResponseTracker, type RequestHead, type ResponseObserver } from './http1.js';
import { RequestPump, type HeadVerdict, type PumpHandler, type PumpVerdict } from './http-pump.js';
import { spiffeIdOfCertificate } from './peer-identity.js';
import { restoreSniffedBytes, sniffConnection, type SniffKind, type SniffedConnection } from './sniff.js';
import { DEFAULT_TIMEOUTS, TcpListener, type ProxyTimeouts } from './listener.js';
import { linkLegs, splice, type SpliceResult } from './splice.js';
import { MESH_ALPN, MESH_ALPN_PROTOCOLS, type MeshContexts, type TlsContexts } from './tls-contexts.js';
import { ConnectionAttributes, HttpRequestAttributes } from './policy/authz-attributes.js';
import { authorize, authorizeRequest, denialLabel } from './policy/authorize.js';
import { policyDecideInbound } from './policy/decide.js';
import { denialReply, STRICT_REFUSAL_REPLY, TLS_ALERT_ACCESS_DENIED, TLS_ALERT_NO_APPLICATION_PROTOCOL } from './policy/local-replies.js';
import { admitsInbound, inboundModeFor, type PolicyState } from './policy/policy-state.js';

/**
 * Where STRICT / DISABLE plug in: may a connection of this kind reach this workload port? `port` is the
 * policy port (InboundPortConfig.servicePort, default the app port), never the listener's.
 */
export type InboundDecision = 'accept' | 'refuse';
export type DecideInbound = (kind: SniffKind, port: number) => InboundDecision;

/** PERMISSIVE, the mesh default: mTLS is terminated, everything else goes to the app as it came. */
export const permissiveInbound: DecideInbound = () => 'accept';

export interface InboundPortConfig {
  /** Shown in events, metrics and /config_dump; defaults to `inbound:<appPort>`. */
  readonly name?: string;
  readonly listenHost?: string;
  /** 0 picks a free port (tests). */
  readonly listenPort: number;
  readonly appHost?: string;
  readonly appPort: number;
  /**
   * The port policies name: PeerAuthentication portLevelMtls, AuthorizationPolicy `ports` and
   * `destination.port`. Defaults to `appPort`.
   */
  readonly servicePort?: number;
  /** The app speaks HTTP/1.1 on this port: requests get x-forwarded-client-cert. */
  readonly http: boolean;
}

export interface InboundOptions {
  readonly port: InboundPortConfig;
  readonly contexts: TlsContexts;
  readonly events: ProxyEvents;
  readonly timer: CoarseTimer;
  /** Overrides the mode decision that `policy` would make (tests, fixed setups). */
  readonly decideInbound?: DecideInbound;
  /**
   * The policy in force: inbound mode per connection, authorization per connection (TCP ports) or per request
   * (HTTP ports), and open connections closed when a change no longer admits them. Without it: PERMISSIVE and
   * no authorization.
   */
  readonly policy?: PolicyState;
  readonly timeouts?: Partial<ProxyTimeouts>;
  readonly logger?: Logger;
}

export const XFCC_HEADER = 'x-forwarded-client-cert';

/** `By=<this workload>;URI=<the authenticated client>`: the Envoy shape apps already read. */
export function xfccValue(ownId: string, peerId: string): string {
  return `By=${ownId};URI=${peerId}`;
}

interface TlsWrapHandle {
  verifyError(): Error | null;
}
function hasVerifyError(h: unknown): h is TlsWrapHandle {
  return typeof h === 'object' && h !== null && 'verifyError' in h && typeof h.verifyError === 'function';
}

/**
 * The chain verification result of a server-side TLSSocket. Node only acts on it inside tls.Server
 * (onServerSocketSecure); a TLSSocket we wrap ourselves must ask its handle, as Node does. If the handle ever
 * lacks the method, fail closed.
 */
export function peerVerifyError(sock: TLSSocket): Error | null {
  const handle: unknown = Reflect.get(sock, 'ssl');
  if (!hasVerifyError(handle)) return Object.assign(new Error('cannot read the peer verification result'), { code: 'MESH_VERIFY_UNAVAILABLE' });
  return handle.verifyError();
}

function ignoreError(): void {
  // Raw inbound sockets always carry a listener: errors are reported through the leg that owns them.
}

function remote(s: Socket): string | undefined {
  return s.remoteAddress === undefined ? undefined : `${s.remoteAddress}:${s.remotePort ?? 0}`;
}

function deniedEvent(
  listener: string,
  layer: AuthzDenied['layer'],
  d: Extract<AuthzDecision, { allowed: false }>,
  peerId: string | undefined,
  remoteAddress: string | undefined,
  head: RequestHead | undefined,
  live: boolean,
): AuthzDenied {
  return {
    direction: 'inbound',
    listener,
    layer,
    policy: d.policy,
    reason: d.reason,
    label: denialLabel(d),
    peerId,
    remoteAddress,
    method: head?.method,
    target: head?.target,
    live,
  };
}

/** An inbound connection admitted to the app, as policy changes need to see it (one per connection). */
interface OpenInbound {
  /** The client leg: the TLSSocket after mTLS, else the accepted socket. */
  readonly down: Socket;
  /** The accepted socket (the same as `down` unless mTLS). */
  readonly raw: Socket;
  readonly kind: SniffKind;
  readonly tlsMode: TlsMode;
  readonly peerId: string | undefined;
  readonly remoteAddress: string | undefined;
  /** Set where authorization is per connection (TCP ports, passed-through TLS): re-checked on every change. */
  readonly l4: ConnectionAttributes | undefined;
  app: Socket | undefined;
}

/**
 * One inbound listener (one per app port): sniffs each connection, terminates mesh mTLS and forwards the
 * plaintext to the app on loopback; passes plaintext and the app's own TLS through as they came (as the
 * policy hook decides).
 */
export class InboundListener extends TcpListener {
  readonly #opts: InboundOptions;
  readonly #timeouts: ProxyTimeouts;
  readonly #decide: DecideInbound;
  readonly #policy: PolicyState | undefined;
  readonly #policyPort: number;
  readonly #open = new Set<OpenInbound>();

  constructor(opts: InboundOptions) {
    super(opts.port.name ?? `inbound:${opts.port.appPort}`, { host: opts.port.listenHost ?? '0.0.0.0', port: opts.port.listenPort });
    this.#opts = opts;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.#policy = opts.policy;
    this.#policyPort = opts.port.servicePort ?? opts.port.appPort;
    this.#decide = opts.decideInbound ?? (opts.policy ? policyDecideInbound(opts.policy) : permissiveInbound);
    opts.policy?.on('changed', this.#onPolicyChanged);
  }

  override close(force = false): Promise<void> {
    this.#policy?.off('changed', this.#onPolicyChanged);
    return super.close(force);
  }

  /**
   * A new policy is in force: close every open connection it no longer admits. A port that became STRICT
   * loses its plaintext and passed-through connections; connections authorized per connection (TCP ports)
   * are checked again against the new authorization policies. HTTP ports check every request anyway.
   */
  readonly #onPolicyChanged = (next: ResolvedWorkloadPolicy): void => {
    if (this.#open.size === 0) return;
    const mode = inboundModeFor(next, this.#policyPort);
    const policies = next.authorization;
    let evicted = 0;
    let denied = 0;
    for (const c of this.#open) {
      if (!admitsInbound(mode, c.kind)) {
        this.#open.delete(c);
        evicted++;
        this.#opts.events.emit('connection-evicted', { direction: 'inbound', listener: this.name, tlsMode: c.tlsMode, peerId: c.peerId, remoteAddress: c.remoteAddress, mode });
        this.#drop(c);
        continue;
      }
      if (c.l4 === undefined || policies.length === 0) continue;
      const d = authorize(policies, c.l4);
      if (d.allowed) continue;
      this.#open.delete(c);
      denied++;
      this.#opts.events.emit('authz-denied', deniedEvent(this.name, 'tcp', d, c.peerId, c.remoteAddress, undefined, true));
      this.#drop(c);
    }
    if (evicted + denied > 0) {
      this.#opts.logger?.info({ listener: this.name, mode, closedByMode: evicted, closedByAuthorization: denied }, 'policy change closed open inbound connections');
    }
  };

  #drop(c: OpenInbound): void {
    c.app?.destroy();
    c.down.destroy();
    c.raw.destroy();
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      direction: 'inbound',
      listening: this.listening,
      address: this.describeAddress(),
      app: `${this.#opts.port.appHost ?? '127.0.0.1'}:${this.#opts.port.appPort}`,
      protocol: this.#opts.port.http ? 'http' : 'tcp',
      policyPort: this.#policyPort,
      mode: this.#policy?.inboundMode(this.#policyPort) ?? null,
      openConnections: this.connections,
      timeouts: this.#timeouts,
    };
  }

  protected onConnection(socket: Socket): void {
    const startedMs = performance.now();
    sniffConnection(socket, { timeoutMs: this.#timeouts.firstBytesMs, timer: this.#opts.timer }).then(
      (sniffed) => this.#route(socket, sniffed, startedMs),
      () => socket.destroy(),
    );
  }

  #route(socket: Socket, sniffed: SniffedConnection, startedMs: number): void {
    if (socket.destroyed) return;
    const port = this.#policyPort;
    if (this.#decide(sniffed.kind, port) === 'refuse') {
      this.#refuse(socket, sniffed, port);
      return;
    }
    if (this.#opts.logger?.isLevelEnabled('debug')) {
      this.#opts.logger.debug({ listener: this.name, kind: sniffed.kind, sni: sniffed.hello?.serverName, detail: sniffed.detail }, 'inbound connection sniffed');
    }
    if (sniffed.kind === 'mesh-mtls') this.#terminate(socket, sniffed, startedMs);
    else this.#admit(socket, socket, sniffed, sniffed.kind === 'plaintext' ? 'plaintext' : 'passthrough', undefined, this.#opts.contexts.current(), startedMs);
  }

  /**
   * The port's mode refuses this kind of connection. Counted as a handshake failure; the client gets a word it
   * understands before the close: a TLS alert (no_application_protocol to a mesh client, whose proxy then
   * reports `protocol`; access_denied to someone else's TLS), or `503` to plaintext on an HTTP port.
   */
  #refuse(socket: Socket, sniffed: SniffedConnection, port: number): void {
    const mode = this.#policy ? inboundModeFor(this.#policy.current(), port) : 'refused by the inbound hook';
    const mesh = sniffed.kind === 'mesh-mtls';
    const err = mesh
      ? new HandshakeError('protocol_mismatch', `mesh mTLS is not served on port ${port} (mode ${mode})`)
      : new HandshakeError('plaintext_refused', `${sniffed.kind} connection refused on port ${port} (mode ${mode})`);
    this.#failure(socket, err, undefined);
    const answer = mesh
      ? TLS_ALERT_NO_APPLICATION_PROTOCOL
      : sniffed.kind === 'tls'
        ? TLS_ALERT_ACCESS_DENIED
        : sniffed.kind === 'plaintext' && this.#opts.port.http
          ? STRICT_REFUSAL_REPLY
          : undefined;
    if (!answer) {
      socket.destroy();
      return;
    }
    // Drain what the client still sends (a reset could destroy our answer before it is read) and close
    // once its FIN arrives; a client that never sends one is cut off at the handshake deadline.
    const deadline = this.#opts.timer.setTimer(this.#timeouts.handshakeMs, () => socket.destroy());
    socket.once('close', () => deadline.cancel());
    socket.resume();
    socket.end(answer);
  }

  #failure(socket: Socket, err: Error, peerId: string | undefined): void {
    this.#opts.events.emit('handshake-failure', {
      direction: 'inbound',
      reason: handshakeFailureReason(err),
      listener: this.name,
      peerAddress: remote(socket),
      localId: this.#opts.contexts.snapshot()?.spiffeId,
      peerId,
      expectedIds: undefined,
      error: err,
    });
  }

  #terminate(socket: Socket, sniffed: SniffedConnection, startedMs: number): void {
    const ctx = this.#opts.contexts.current();
    if (!ctx) {
      this.#failure(socket, new HandshakeError('no_identity', 'no certificate yet'), undefined);
      socket.destroy();
      return;
    }
    if (!restoreSniffedBytes(socket, sniffed)) {
      this.#failure(socket, new HandshakeError('peer_reset', 'client closed after its ClientHello'), undefined);
      socket.destroy();
      return;
    }
    const peerAddress = remote(socket);
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: ctx.server,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [...MESH_ALPN_PROTOCOLS],
    });
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      deadline.cancel();
      const e = toHandshakeError(err, 'TLS handshake failed');
      this.#opts.events.emit('handshake-failure', {
        direction: 'inbound',
        reason: e.reason,
        listener: this.name,
        peerAddress,
        localId: ctx.snapshot.spiffeId,
        peerId: e.peerId,
        expectedIds: undefined,
        error: e,
      });
      tls.destroy();
      socket.destroy();
    };
    const deadline = this.#opts.timer.setTimer(this.#timeouts.handshakeMs, () =>
      fail(new HandshakeError('handshake_timeout', `no handshake within ${this.#timeouts.handshakeMs}ms`)),
    );
    tls.on('error', fail);
    tls.once('close', () => fail(Object.assign(new Error('client closed the connection during the handshake'), { code: 'ECONNRESET' })));
    tls.once('secure', () => {
      if (settled) return;
      const verifyError = peerVerifyError(tls);
      if (verifyError) return fail(verifyError);
      if (tls.alpnProtocol !== MESH_ALPN) return fail(new HandshakeError('protocol_mismatch', `ALPN ${String(tls.alpnProtocol)} is not ${MESH_ALPN}`));
      const id = spiffeIdOfCertificate(tls.getPeerX509Certificate());
      if (!id.ok) return fail(new HandshakeError('identity_mismatch', id.detail));
      settled = true;
      deadline.cancel();
      tls.removeListener('error', fail);
      tls.on('error', ignoreError);
      this.#admit(tls, socket, sniffed, 'mtls', id.spiffeId, ctx, startedMs);
    });
  }

  /**
   * After the mode check (and the handshake, for mTLS): per-connection authorization where there is no HTTP
   * to look at (TCP ports, someone else's TLS), then the app. From here on the connection is tracked so that
   * a policy change can close it.
   */
  #admit(down: Socket, raw: Socket, sniffed: SniffedConnection, tlsMode: TlsMode, peerId: string | undefined, ctx: MeshContexts | undefined, startedMs: number): void {
    const policy = this.#policy;
    const p = this.#opts.port;
    const l7 = p.http && tlsMode !== 'passthrough';
    let attrs: ConnectionAttributes | undefined;
    if (policy) {
      const xfcc = l7 && peerId && ctx ? xfccValue(ctx.snapshot.spiffeId, peerId) : undefined;
      attrs = ConnectionAttributes.of(peerId, raw.remoteAddress, this.#policyPort, sniffed.hello?.serverName, l7 ? new HttpRequestAttributes(xfcc) : undefined);
      const policies = policy.current().authorization;
      if (!l7 && policies.length > 0) {
        const d = authorize(policies, attrs);
        if (!d.allowed) {
          this.#opts.events.emit('authz-denied', deniedEvent(this.name, 'tcp', d, peerId, remote(raw), undefined, false));
          down.destroy();
          raw.destroy();
          return;
        }
      }
    }
    const open: OpenInbound = { down, raw, kind: sniffed.kind, tlsMode, peerId, remoteAddress: remote(raw), l4: l7 ? undefined : attrs, app: undefined };
    if (policy) {
      this.#open.add(open);
      down.once('close', () => this.#open.delete(open));
    }
    this.#toApp(open, tlsMode === 'mtls' ? undefined : sniffed, ctx, startedMs, l7 && policy && attrs ? new HttpGate(policy, attrs, this.#opts.events, this.name, open.remoteAddress) : undefined);
  }

  /** Connects to the app and joins the legs; `sniffed` bytes (plaintext/passthrough) still have to be delivered. */
  #toApp(open: OpenInbound, sniffed: SniffedConnection | undefined, ctx: MeshContexts | undefined, startedMs: number, gate: HttpGate | undefined): void {
    const { down, tlsMode, peerId } = open;
    const p = this.#opts.port;
    const appAddr = `${p.appHost ?? '127.0.0.1'}:${p.appPort}`;
    const app = createConnection({ host: p.appHost ?? '127.0.0.1', port: p.appPort, allowHalfOpen: true, noDelay: true });
    const connectTimer = this.#opts.timer.setTimer(this.#timeouts.connectMs, () =>
      app.destroy(Object.assign(new Error(`connect to ${appAddr} timed out`), { code: 'ETIMEDOUT' })),
    );
    const onConnectError = (err: Error): void => {
      connectTimer.cancel();
      this.#opts.events.emit('upstream-failure', { direction: 'inbound', listener: this.name, target: appAddr, error: err });
      down.destroy();
    };
    open.app = app;
    app.once('error', onConnectError);
    app.once('connect', () => {
      connectTimer.cancel();
      app.removeListener('error', onConnectError);
      if (down.destroyed) {
        app.destroy();
        return;
      }
      this.#opts.events.emit('connection-accepted', {
        direction: 'inbound',
        tlsMode,
        listener: this.name,
        peerId,
        localId: ctx?.snapshot.spiffeId,
        remoteAddress: remote(down),
        localSerial: tlsMode === 'mtls' ? ctx?.snapshot.serialHex : undefined,
      });
      const done = (r: SpliceResult): void => {
        this.#opts.events.emit('connection-closed', {
          direction: 'inbound',
          tlsMode,
          listener: this.name,
          peerId,
          bytesFromDownstream: r.downBytes,
          bytesFromUpstream: r.upBytes,
          durationMs: performance.now() - startedMs,
          error: r.error,
          idleTimedOut: r.idleTimedOut,
        });
      };
      const idle = { timer: this.#opts.timer, ms: this.#timeouts.idleMs };
      // HTTP ports: x-forwarded-client-cert is set after mTLS and stripped from everything else. Someone
      // else's TLS cannot be read, so it passes as bytes.
      if (p.http && tlsMode !== 'passthrough') {
        const xfcc = peerId && ctx ? Buffer.from(`${XFCC_HEADER}: ${xfccValue(ctx.snapshot.spiffeId, peerId)}\r\n`, 'latin1') : undefined;
        linkLegs(down, app, { done, idle });
        const relay = new InboundHttpRelay(down, app, xfcc, gate);
        if (sniffed) relay.start(sniffed.head, sniffed.ended);
        else relay.start(undefined, false);
        return;
      }
      if (sniffed && !restoreSniffedBytes(down, sniffed)) app.write(sniffed.head);
      splice(down, app, { done, idle });
    });
  }
}

const kRelay = Symbol('relay');
type RelaySocket = Socket & { [kRelay]: InboundHttpRelay };

function onAppData(this: RelaySocket, chunk: Buffer): void {
  this[kRelay].tracker.feed(chunk);
}
function onAppDrain(this: RelaySocket): void {
  this[kRelay].pump.drained();
}

function dropsForwardedClientCert(id: HeaderId): boolean {
  return id === HeaderId.ForwardedClientCert;
}

/**
 * L7 authorization of one HTTP connection: the policy in force is read per request, the request attributes
 * object is reused, and nothing is allocated unless a request is denied.
 */
class HttpGate {
  constructor(
    readonly state: PolicyState,
    readonly attrs: ConnectionAttributes,
    readonly events: ProxyEvents,
    readonly listener: string,
    readonly remoteAddress: string | undefined,
  ) {}

  /** Undefined: allowed. Else the answer to write (and the denial is reported). */
  check(head: RequestHead): Extract<AuthzDecision, { allowed: false }> | undefined {
    const policies = this.state.current().authorization;
    if (policies.length === 0) return undefined;
    const d = authorizeRequest(policies, this.attrs, head);
    if (d.allowed) return undefined;
    this.events.emit('authz-denied', deniedEvent(this.listener, 'http', d, this.attrs.sourcePrincipal, this.remoteAddress, head, false));
    return d;
  }
}

/** What to do once every response in flight has been relayed. */
const enum WhenIdle {
  Nothing,
  /** Write the refusal of the current request and read on. */
  Answer,
  /** Write the refusal and close. */
  AnswerAndClose,
}

/**
 * The client→app direction of an HTTP port: every request head loses any x-forwarded-client-cert that came
 * from outside and, after mTLS, gets ours. Bodies pass through as they came; responses are piped back and
 * followed only so that an Upgrade / CONNECT switches to a raw pipe exactly when the app agreed to it
 * (a refused upgrade keeps rewriting: no later request can smuggle its own header past us).
 *
 * With a gate, each request head is authorized first (an Upgrade like any request, on its head). A denied
 * request never reaches the app: its body is read and dropped, and its answer (403 `RBAC: access denied`, or
 * 400 for a refused path) is written after every earlier response, so answers stay in order and the
 * connection stays usable. It is closed instead when the client asked for that, or when it sent
 * `Expect: 100-continue` with a body: after a final answer such a client may or may not send the body, so
 * where the next request starts is unknowable.
 */
class InboundHttpRelay implements PumpHandler, ResponseObserver {
  readonly pump: RequestPump;
  readonly tracker: ResponseTracker;
  readonly #down: Socket;
  readonly #app: RelaySocket;
  readonly #xfcc: Buffer | undefined;
  readonly #gate: HttpGate | undefined;
  /** The current request was denied: its body is dropped and this is its answer. */
  #refusal: Buffer | undefined;
  #whenIdle = WhenIdle.Nothing;

  constructor(down: Socket, app: Socket, xfccLine: Buffer | undefined, gate: HttpGate | undefined) {
    this.#down = down;
    this.#app = app as RelaySocket;
    this.#xfcc = xfccLine;
    this.#gate = gate;
    this.pump = new RequestPump(down, this);
    this.tracker = new ResponseTracker(this);
  }

  start(initial: Buffer | undefined, ended: boolean): void {
    this.#app[kRelay] = this;
    // The pipe's listener first: when a chunk completes the last response in flight, it is already on its way
    // to the client before the tracker says so and a held answer of ours is written behind it.
    this.#app.pipe(this.#down);
    this.#app.on('data', onAppData).on('drain', onAppDrain);
    this.pump.start(initial, ended);
  }

  onRequestHead(head: RequestHead): HeadVerdict {
    if (this.#gate !== undefined) {
      const denied = this.#gate.check(head);
      if (denied !== undefined) return this.#deny(head, denied.reason === 'bad-path' ? 400 : 403);
    }
    this.tracker.expect(expectationOf(head));
    const parts = rewriteHead(head, dropsForwardedClientCert, this.#xfcc);
    const app = this.#app;
    app.cork();
    for (const p of parts) app.write(p);
    app.uncork();
    return app.writableNeedDrain ? 'full' : 'go';
  }

  onBytes(chunk: Buffer): boolean {
    if (this.#refusal !== undefined) return true;
    return this.#app.write(chunk);
  }

  onRequestEnd(head: RequestHead): PumpVerdict {
    if (this.#refusal !== undefined) {
      if (this.tracker.outstanding === 0) {
        this.#down.write(this.#refusal);
        this.#refusal = undefined;
        return 'go';
      }
      this.#whenIdle = WhenIdle.Answer;
      return 'hold';
    }
    return head.upgrade || head.connect ? 'hold' : 'go';
  }

  #deny(head: RequestHead, status: 400 | 403): HeadVerdict {
    const keepAlive = head.keepAlive && !(head.expectContinue && head.body !== 'none');
    this.#refusal = denialReply(status, keepAlive, head.isHead);
    if (keepAlive) return 'go';
    this.pump.stop();
    if (this.tracker.outstanding === 0) this.#answerAndClose();
    else this.#whenIdle = WhenIdle.AnswerAndClose;
    return 'hold';
  }

  #answerAndClose(): void {
    const answer = this.#refusal;
    this.#refusal = undefined;
    const app = this.#app;
    app.unpipe(this.#down);
    app.removeListener('data', onAppData);
    // Read the app leg to its end, so that it closes cleanly once the app answers our FIN.
    app.resume();
    app.end();
    // Likewise drain the client: a reset with unread bytes could destroy the answer before it is read.
    this.#down.resume();
    if (answer) this.#down.end(answer);
    else this.#down.end();
  }

  onBadRequest(status: number, detail: string): void {
    // Our answer must not interleave with an app response still in flight.
    if (this.tracker.outstanding === 0) {
      this.#app.unpipe(this.#down);
      this.#app.removeListener('data', onAppData);
      // Ending (not destroying) the app leg: a destroyed leg would take the downstream down before our answer is out.
      this.#app.end();
      this.#down.end(localResponse(status, `mesh proxy: ${detail}`));
    } else {
      this.#down.destroy();
    }
  }

  onDownstreamEnd(): void {
    this.#app.end();
  }

  onUpgradeResult(switched: boolean): void {
    if (switched) this.#app.removeListener('data', onAppData);
    this.pump.release(switched);
  }

  onResponsesIdle(): void {
    const what = this.#whenIdle;
    if (what === WhenIdle.Nothing) return;
    this.#whenIdle = WhenIdle.Nothing;
    if (what === WhenIdle.AnswerAndClose) {
      this.#answerAndClose();
      return;
    }
    const answer = this.#refusal;
    this.#refusal = undefined;
    if (answer) this.#down.write(answer);
    this.pump.release(false);
  }

  onResponseError(): void {
    // We can no longer tell where responses end, so not whether an upgrade happened: stop rather than guess.
    this.#app.destroy();
    this.#down.destroy();
  }
}
