import { createConnection, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from '../../shared/logging.js';
import type { CoarseTimer } from './coarse-timer.js';
import type { ProxyEvents, TlsMode } from './events.js';
import { HandshakeError, handshakeFailureReason, toHandshakeError } from './handshake-errors.js';
import { HeaderId, expectationOf, localResponse, rewriteHead, ResponseTracker, type RequestHead, type ResponseObserver } from './http1.js';
import { RequestPump, type HeadVerdict, type PumpHandler, type PumpVerdict } from './http-pump.js';
import { spiffeIdOfCertificate } from './peer-identity.js';
import { restoreSniffedBytes, sniffConnection, type SniffKind, type SniffedConnection } from './sniff.js';
import { DEFAULT_TIMEOUTS, TcpListener, type ProxyTimeouts } from './listener.js';
import { linkLegs, splice, type SpliceResult } from './splice.js';
import { MESH_ALPN, MESH_ALPN_PROTOCOLS, type MeshContexts, type TlsContexts } from './tls-contexts.js';

/**
 * Where the policy issue plugs STRICT / DISABLE in: may a connection of this kind reach this workload port?
 * `port` is the app port (what PeerAuthentication portLevelMtls names), not the listener's.
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
  /** The app speaks HTTP/1.1 on this port: requests get x-forwarded-client-cert. */
  readonly http: boolean;
}

export interface InboundOptions {
  readonly port: InboundPortConfig;
  readonly contexts: TlsContexts;
  readonly events: ProxyEvents;
  readonly timer: CoarseTimer;
  readonly decideInbound?: DecideInbound;
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

/**
 * One inbound listener (one per app port): sniffs each connection, terminates mesh mTLS and forwards the
 * plaintext to the app on loopback; passes plaintext and the app's own TLS through as they came (as the
 * policy hook decides).
 */
export class InboundListener extends TcpListener {
  readonly #opts: InboundOptions;
  readonly #timeouts: ProxyTimeouts;
  readonly #decide: DecideInbound;

  constructor(opts: InboundOptions) {
    super(opts.port.name ?? `inbound:${opts.port.appPort}`, { host: opts.port.listenHost ?? '0.0.0.0', port: opts.port.listenPort });
    this.#opts = opts;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.#decide = opts.decideInbound ?? permissiveInbound;
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      direction: 'inbound',
      listening: this.listening,
      address: this.describeAddress(),
      app: `${this.#opts.port.appHost ?? '127.0.0.1'}:${this.#opts.port.appPort}`,
      protocol: this.#opts.port.http ? 'http' : 'tcp',
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
    const port = this.#opts.port.appPort;
    if (this.#decide(sniffed.kind, port) === 'refuse') {
      const err =
        sniffed.kind === 'mesh-mtls'
          ? new HandshakeError('other', 'mesh mTLS refused on this port by policy')
          : new HandshakeError('plaintext-refused', `${sniffed.kind} connection refused on port ${port}`);
      this.#failure(socket, err, undefined);
      socket.destroy();
      return;
    }
    if (this.#opts.logger?.isLevelEnabled('debug')) {
      this.#opts.logger.debug({ listener: this.name, kind: sniffed.kind, sni: sniffed.hello?.serverName, detail: sniffed.detail }, 'inbound connection sniffed');
    }
    if (sniffed.kind === 'mesh-mtls') this.#terminate(socket, sniffed, startedMs);
    else this.#forward(socket, sniffed, sniffed.kind === 'plaintext' ? 'plaintext' : 'passthrough', startedMs);
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
      this.#failure(socket, new HandshakeError('no-identity', 'no certificate yet'), undefined);
      socket.destroy();
      return;
    }
    if (!restoreSniffedBytes(socket, sniffed)) {
      this.#failure(socket, new HandshakeError('peer-reset', 'client closed after its ClientHello'), undefined);
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
      fail(new HandshakeError('handshake-timeout', `no handshake within ${this.#timeouts.handshakeMs}ms`)),
    );
    tls.on('error', fail);
    tls.once('close', () => fail(Object.assign(new Error('client closed the connection during the handshake'), { code: 'ECONNRESET' })));
    tls.once('secure', () => {
      if (settled) return;
      const verifyError = peerVerifyError(tls);
      if (verifyError) return fail(verifyError);
      if (tls.alpnProtocol !== MESH_ALPN) return fail(new HandshakeError('protocol', `ALPN ${String(tls.alpnProtocol)} is not ${MESH_ALPN}`));
      const id = spiffeIdOfCertificate(tls.getPeerX509Certificate());
      if (!id.ok) return fail(new HandshakeError('san-mismatch', id.detail));
      settled = true;
      deadline.cancel();
      tls.removeListener('error', fail);
      tls.on('error', ignoreError);
      this.#toApp(tls, undefined, 'mtls', id.spiffeId, ctx, startedMs);
    });
  }

  #forward(socket: Socket, sniffed: SniffedConnection, tlsMode: TlsMode, startedMs: number): void {
    this.#toApp(socket, sniffed, tlsMode, undefined, this.#opts.contexts.current(), startedMs);
  }

  /** Connects to the app and joins the legs; `sniffed` bytes (plaintext/passthrough) still have to be delivered. */
  #toApp(down: Socket, sniffed: SniffedConnection | undefined, tlsMode: TlsMode, peerId: string | undefined, ctx: MeshContexts | undefined, startedMs: number): void {
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
        const relay = new InboundHttpRelay(down, app, xfcc);
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
 * The client→app direction of an HTTP port: every request head loses any x-forwarded-client-cert that came
 * from outside and, after mTLS, gets ours. Bodies pass through as they came; responses are piped back and
 * followed only so that an Upgrade / CONNECT switches to a raw pipe exactly when the app agreed to it
 * (a refused upgrade keeps rewriting: no later request can smuggle its own header past us).
 */
class InboundHttpRelay implements PumpHandler, ResponseObserver {
  readonly pump: RequestPump;
  readonly tracker: ResponseTracker;
  readonly #down: Socket;
  readonly #app: RelaySocket;
  readonly #xfcc: Buffer | undefined;

  constructor(down: Socket, app: Socket, xfccLine: Buffer | undefined) {
    this.#down = down;
    this.#app = app as RelaySocket;
    this.#xfcc = xfccLine;
    this.pump = new RequestPump(down, this);
    this.tracker = new ResponseTracker(this);
  }

  start(initial: Buffer | undefined, ended: boolean): void {
    this.#app[kRelay] = this;
    this.#app.on('data', onAppData).on('drain', onAppDrain);
    this.#app.pipe(this.#down);
    this.pump.start(initial, ended);
  }

  onRequestHead(head: RequestHead): HeadVerdict {
    this.tracker.expect(expectationOf(head));
    const parts = rewriteHead(head, dropsForwardedClientCert, this.#xfcc);
    const app = this.#app;
    app.cork();
    for (const p of parts) app.write(p);
    app.uncork();
    return app.writableNeedDrain ? 'full' : 'go';
  }

  onBytes(chunk: Buffer): boolean {
    return this.#app.write(chunk);
  }

  onRequestEnd(head: RequestHead): PumpVerdict {
    return head.upgrade || head.connect ? 'hold' : 'go';
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

  onResponsesIdle(): void {}

  onResponseError(): void {
    // We can no longer tell where responses end, so not whether an upgrade happened: stop rather than guess.
    this.#app.destroy();
    this.#down.destroy();
  }
}
