import { createConnection, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { systemClock, type Clock, type Timer } from '../../shared/clock.js';
import { MeshError, asError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logging.js';
import type { CoarseTimer } from './coarse-timer.js';
import type { ProxyEvents, TlsMode } from './events.js';
import { HandshakeError, toHandshakeError, explainHandshakeFailure } from './handshake-errors.js';
import { HeaderId, expectationOf, localResponse, rewriteHead, ResponseTracker, type RequestHead, type ResponseObserver } from './http1.js';
import { RequestPump, type HeadVerdict, type PumpHandler, type PumpVerdict } from './http-pump.js';
import { DEFAULT_TIMEOUTS, TcpListener, type ProxyTimeouts } from './listener.js';
import { spiffeIdOfCertificate } from './peer-identity.js';
import type { ResolvedDestination, Resolver } from './resolver.js';
import { splice, type SpliceResult } from './splice.js';
import { MESH_ALPN, MESH_ALPN_PROTOCOLS, type TlsContexts } from './tls-contexts.js';

// ---------------------------------------------------------------------------------------------------------
// Origination

export type UpstreamFailureReason = 'unknown-service' | 'connect-failed' | 'connect-timeout' | 'no-sidecar';

/** The destination could not be resolved or reached (before any TLS). */
export class UpstreamError extends MeshError {
  readonly code = 'MESH_ERR_PROXY_UPSTREAM';
  constructor(
    readonly reason: UpstreamFailureReason,
    readonly target: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`upstream ${target} (${reason}): ${detail}`, options);
  }
}

export interface MeshTarget {
  readonly host: string;
  readonly port: number;
  /** SPIFFE IDs allowed to serve this destination; the connection is refused for any other. */
  readonly expectedIds: readonly string[];
  /** SNI to send (the service name); never an IP. Hostnames play no part in verification. */
  readonly serverName?: string;
}

export interface ConnectOptions {
  /** Covers TCP connect and handshake. */
  readonly timeoutMs?: number;
  readonly timer?: Pick<Clock, 'setTimer'>;
}

const verifiedIds = new WeakMap<TLSSocket, string>();

/** The SPIFFE ID a socket from connectMesh was verified to carry. */
export function verifiedPeerId(sock: TLSSocket): string | undefined {
  return verifiedIds.get(sock);
}

/**
 * Secure naming: the server's SVID must carry one of the expected SPIFFE IDs. Used as tls checkServerIdentity,
 * which Node calls only after the chain verified against the bundle roots.
 */
export function checkSecureNaming(cert: PeerCertificate, expectedIds: readonly string[]): HandshakeError | undefined {
  const id = spiffeIdOfCertificate(cert);
  if (!id.ok) return new HandshakeError('identity_mismatch', id.detail);
  if (!expectedIds.includes(id.spiffeId)) {
    return new HandshakeError('identity_mismatch', `server presented ${id.spiffeId}, expected ${expectedIds.join(' or ')}`, { peerId: id.spiffeId });
  }
  return undefined;
}

/**
 * Originates mesh mTLS: client certificate from the current contexts, ALPN mtls-mesh, chain verified against
 * the bundle roots, then refused unless the server's URI SAN is one of `expectedIds`. Rejects with a
 * HandshakeError (reason set) or an UpstreamError (TCP never connected).
 */
export function connectMesh(target: MeshTarget, contexts: TlsContexts, opts: ConnectOptions = {}): Promise<TLSSocket> {
  const where = `${target.host}:${target.port}`;
  const ctx = contexts.current();
  if (!ctx) return Promise.reject(new HandshakeError('no_identity', 'this proxy holds no certificate yet'));
  if (target.expectedIds.length === 0) {
    return Promise.reject(new HandshakeError('identity_mismatch', `no SPIFFE ID is registered for ${target.serverName ?? where}`));
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUTS.handshakeMs;
  const servername = target.serverName && isIP(target.serverName) === 0 ? target.serverName : undefined;
  const sessionKey = `${target.host}:${target.port}/${servername ?? ''}`;
  const cached = ctx.sessions.get(sessionKey);
  return new Promise<TLSSocket>((resolve, reject) => {
    let peerId: string | undefined;
    let tcpUp = false;
    let settled = false;
    // allowHalfOpen is honoured by tls.connect (it passes it to the TLSSocket) but missing from its types.
    const options: ConnectionOptions & { allowHalfOpen: boolean } = {
      host: target.host,
      port: target.port,
      secureContext: ctx.client,
      // Resumes the last verified session with this destination under the current contexts (dropped on rotation).
      session: cached?.session,
      ALPNProtocols: [...MESH_ALPN_PROTOCOLS],
      servername,
      rejectUnauthorized: true,
      allowHalfOpen: true,
      checkServerIdentity: (_host, cert) => {
        const err = checkSecureNaming(cert, target.expectedIds);
        const id = spiffeIdOfCertificate(cert);
        if (!err && id.ok) peerId = id.spiffeId;
        return err;
      },
    };
    const sock = tlsConnect(options);
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      sock.destroy();
      if (cached) ctx.sessions.delete(sessionKey);
      if (!tcpUp && !(err instanceof HandshakeError)) {
        reject(new UpstreamError('connect-failed', where, asError(err).message, { cause: err }));
      } else {
        reject(toHandshakeError(err, 'TLS handshake failed'));
      }
    };
    const timer: Timer = (opts.timer ?? systemClock).setTimer(timeoutMs, () => {
      if (tcpUp) {
        fail(new HandshakeError('handshake_timeout', `no handshake with ${where} within ${timeoutMs}ms`));
        return;
      }
      settled = true;
      sock.destroy();
      reject(new UpstreamError('connect-timeout', where, `no connection within ${timeoutMs}ms`));
    });
    sock.once('connect', () => {
      tcpUp = true;
      sock.setNoDelay(true);
    });
    sock.on('error', fail);
    sock.once('close', () => fail(Object.assign(new Error(`${where} closed the connection during the handshake`), { code: 'ECONNRESET' })));
    sock.once('secureConnect', () => {
      if (settled) return;
      if (sock.alpnProtocol !== MESH_ALPN) {
        fail(new HandshakeError('protocol_mismatch', `${where} did not select ALPN ${MESH_ALPN} (got ${String(sock.alpnProtocol)}): not a mesh sidecar`));
        return;
      }
      // Node skips checkServerIdentity on a resumed session (and has no peer certificate to show for it): only the
      // server context that sealed the ticket can resume it, so the server is the one verified when the session
      // was cached, and secure naming is checked here on that identity against today's expected identities.
      if (sock.isSessionReused()) {
        if (!cached || !target.expectedIds.includes(cached.peerId)) {
          fail(new HandshakeError('identity_mismatch', `server presented ${cached?.peerId ?? 'an unknown identity'}, expected ${target.expectedIds.join(' or ')}`, { peerId: cached?.peerId }));
          return;
        }
        peerId = cached.peerId;
      }
      settled = true;
      timer.cancel();
      sock.removeListener('error', fail);
      sock.on('error', ignoreError);
      if (peerId) {
        verifiedIds.set(sock, peerId);
        // TLS 1.3 tickets arrive after the handshake; only a connection that passed every check above keeps one.
        const verified = peerId;
        sock.on('session', (session: Buffer) => ctx.sessions.set(sessionKey, { session, peerId: verified }));
      }
      resolve(sock);
    });
  });
}

function ignoreError(): void {
  // Sockets handed out carry a listener; their owner (splice / the forward proxy) reports errors.
}

/** A plaintext TCP connection (destinations without a sidecar). */
export function connectPlain(host: string, port: number, opts: ConnectOptions = {}): Promise<Socket> {
  const where = `${host}:${port}`;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUTS.connectMs;
  return new Promise<Socket>((resolve, reject) => {
    const sock = createConnection({ host, port, allowHalfOpen: true, noDelay: true });
    const timer = (opts.timer ?? systemClock).setTimer(timeoutMs, () => {
      sock.destroy();
      reject(new UpstreamError('connect-timeout', where, `no connection within ${timeoutMs}ms`));
    });
    const onError = (err: Error): void => {
      timer.cancel();
      reject(new UpstreamError('connect-failed', where, err.message, { cause: err }));
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      timer.cancel();
      sock.removeListener('error', onError);
      sock.on('error', ignoreError);
      resolve(sock);
    });
  });
}

export type OutboundMode = 'mesh' | 'plaintext';
/** Where DestinationRule support plugs in; the default is auto mTLS (mesh towards sidecars, else plaintext). */
export type DecideOutbound = (dest: ResolvedDestination, host: string, port: number) => OutboundMode;
export const autoMtls: DecideOutbound = (dest) => (dest.hasSidecar ? 'mesh' : 'plaintext');

export interface OutboundOptions {
  readonly contexts: TlsContexts;
  readonly resolver: Resolver;
  readonly events: ProxyEvents;
  readonly timer: CoarseTimer;
  readonly decideOutbound?: DecideOutbound;
  readonly timeouts?: Partial<ProxyTimeouts>;
  readonly logger?: Logger;
}

export interface OpenedUpstream {
  readonly socket: Socket;
  readonly tlsMode: Exclude<TlsMode, 'passthrough'>;
  readonly peerId: string | undefined;
  readonly destination: ResolvedDestination;
}

/** Resolves `host:port` and connects with mesh mTLS or plaintext as decided. */
export async function openUpstream(host: string, port: number, opts: OutboundOptions, timeouts: ProxyTimeouts): Promise<OpenedUpstream> {
  const destination = opts.resolver.resolve(host, port);
  if (!destination) throw new UpstreamError('unknown-service', `${host}:${port}`, `unknown service ${host}:${port}`);
  const mode = (opts.decideOutbound ?? autoMtls)(destination, host, port);
  const { host: dh, port: dp } = destination.address;
  if (mode === 'mesh' && !destination.hasSidecar) {
    // Only a client TLS rule (DestinationRule ISTIO_MUTUAL) asks for mTLS towards a workload without a
    // sidecar. Nobody there could complete the handshake, and no identity is registered to check: say so.
    throw new UpstreamError('no-sidecar', `${host}:${port}`, `client TLS mode ISTIO_MUTUAL asks for mesh mTLS, but ${host}:${port} has no sidecar`);
  }
  if (mode === 'plaintext') {
    const socket = await connectPlain(dh, dp, { timeoutMs: timeouts.connectMs, timer: opts.timer });
    return { socket, tlsMode: 'plaintext', peerId: undefined, destination };
  }
  const socket = await connectMesh(
    { host: dh, port: dp, expectedIds: destination.expectedIds, serverName: host },
    opts.contexts,
    { timeoutMs: timeouts.handshakeMs, timer: opts.timer },
  );
  return { socket, tlsMode: 'mtls', peerId: verifiedPeerId(socket), destination };
}

function remote(s: Socket): string | undefined {
  return s.remoteAddress === undefined ? undefined : `${s.remoteAddress}:${s.remotePort ?? 0}`;
}

/** Emits the event that matches an origination failure; returns the words for a 502 body. */
function reportOriginationFailure(opts: OutboundOptions, listener: string, target: string, dest: ResolvedDestination | undefined, err: unknown): string {
  if (err instanceof HandshakeError) {
    opts.events.emit('handshake-failure', {
      direction: 'outbound',
      reason: err.reason,
      listener,
      peerAddress: dest ? `${dest.address.host}:${dest.address.port}` : undefined,
      localId: opts.contexts.snapshot()?.spiffeId,
      peerId: err.peerId,
      expectedIds: dest?.expectedIds,
      error: err,
    });
    return `mTLS to ${target} failed (${err.reason}): ${err.detail}; ${explainHandshakeFailure(err.reason)}`;
  }
  const e = asError(err);
  opts.events.emit('upstream-failure', { direction: 'outbound', listener, target, error: e });
  return e instanceof UpstreamError && e.reason === 'unknown-service' ? `unknown service ${target}` : `cannot reach ${target}: ${e.message}`;
}

function closedEvent(opts: OutboundOptions, listener: string, up: OpenedUpstream, startedMs: number) {
  return (r: SpliceResult): void => {
    opts.events.emit('connection-closed', {
      direction: 'outbound',
      tlsMode: up.tlsMode,
      listener,
      peerId: up.peerId,
      bytesFromDownstream: r.downBytes,
      bytesFromUpstream: r.upBytes,
      durationMs: performance.now() - startedMs,
      error: r.error,
      idleTimedOut: r.idleTimedOut,
    });
  };
}

function acceptedEvent(opts: OutboundOptions, listener: string, down: Socket, up: OpenedUpstream): void {
  const snap = opts.contexts.snapshot();
  opts.events.emit('connection-accepted', {
    direction: 'outbound',
    tlsMode: up.tlsMode,
    listener,
    peerId: up.peerId,
    localId: snap?.spiffeId,
    remoteAddress: remote(down),
    localSerial: up.tlsMode === 'mtls' ? snap?.serialHex : undefined,
  });
}

// ---------------------------------------------------------------------------------------------------------
// (a) explicit upstream listeners: --upstream 127.0.0.1:9001=httpbin.foo:8000

export interface UpstreamSpec {
  readonly listenHost: string;
  readonly listenPort: number;
  readonly service: string;
  readonly servicePort: number;
}

/** `[listenHost:]listenPort=service:port`; listenHost defaults to 127.0.0.1. Undefined when malformed. */
export function parseUpstreamSpec(text: string): UpstreamSpec | undefined {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:=\s[\]]+):)?(\d{1,5})=([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const listenPort = Number(m[2]);
  const servicePort = Number(m[5]);
  if (listenPort > 65535 || servicePort < 1 || servicePort > 65535) return undefined;
  const host = m[1] ?? '127.0.0.1';
  return { listenHost: host.startsWith('[') ? host.slice(1, -1) : host, listenPort, service: (m[3] ?? '').toLowerCase(), servicePort };
}

/** Listens locally and sends every connection to one service, resolved per connection (endpoints move). */
export class UpstreamListener extends TcpListener {
  readonly spec: UpstreamSpec;
  readonly #opts: OutboundOptions;
  readonly #timeouts: ProxyTimeouts;

  constructor(spec: UpstreamSpec, opts: OutboundOptions) {
    super(`upstream:${spec.listenPort}=${spec.service}:${spec.servicePort}`, { host: spec.listenHost, port: spec.listenPort }, { pauseOnConnect: true });
    this.spec = spec;
    this.#opts = opts;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  }

  describe(): Record<string, unknown> {
    const { service, servicePort } = this.spec;
    const dest = this.#opts.resolver.resolve(service, servicePort);
    return {
      name: this.name,
      direction: 'outbound',
      kind: 'upstream',
      listening: this.listening,
      address: this.describeAddress(),
      service: `${service}:${servicePort}`,
      resolved: dest
        ? { address: `${dest.address.host}:${dest.address.port}`, hasSidecar: dest.hasSidecar, expectedIds: dest.expectedIds, mode: (this.#opts.decideOutbound ?? autoMtls)(dest, service, servicePort) }
        : null,
      openConnections: this.connections,
    };
  }

  protected onConnection(down: Socket): void {
    const startedMs = performance.now();
    const { service, servicePort } = this.spec;
    const target = `${service}:${servicePort}`;
    openUpstream(service, servicePort, this.#opts, this.#timeouts).then(
      (up) => {
        if (down.destroyed) {
          up.socket.destroy();
          return;
        }
        acceptedEvent(this.#opts, this.name, down, up);
        splice(down, up.socket, { done: closedEvent(this.#opts, this.name, up, startedMs), idle: { timer: this.#opts.timer, ms: this.#timeouts.idleMs } });
      },
      (err: unknown) => {
        reportOriginationFailure(this.#opts, this.name, target, this.#opts.resolver.resolve(service, servicePort), err);
        down.destroy();
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// (b) HTTP forward-proxy mode: the app's HTTP_PROXY points here.

export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
  /** host[:port] as the Host header of the upstream request. */
  readonly authority: string;
  /** origin-form (path?query) for the upstream request line; undefined when the request already was. */
  readonly originForm: string | undefined;
}

function parseAuthority(a: string, defaultPort: number | undefined): { host: string; port: number } | undefined {
  if (a.includes('@')) return undefined;
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(a);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2];
  } else {
    const m = /^([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(a);
    if (!m) return undefined;
    host = m[1] ?? '';
    portText = m[2];
  }
  const port = portText === undefined ? defaultPort : Number(portText);
  if (port === undefined || port < 1 || port > 65535 || host === '') return undefined;
  return { host: host.toLowerCase(), port };
}

/** Where a proxied request goes: absolute-form, CONNECT authority-form, or origin-form with Host. */
export function parseProxyTarget(head: RequestHead): ProxyTarget | string {
  const t = head.target;
  if (head.connect) {
    const a = parseAuthority(t, undefined);
    return a ? { ...a, authority: t, originForm: undefined } : `bad CONNECT target ${JSON.stringify(t)}`;
  }
  if (/^http:\/\//i.test(t)) {
    const rest = t.slice(7);
    const cut = rest.search(/[/?#]/);
    const authority = cut < 0 ? rest : rest.slice(0, cut);
    let path = cut < 0 ? '/' : rest.slice(cut);
    if (path.startsWith('#')) path = '/';
    else if (path.startsWith('?')) path = `/${path}`;
    const hash = path.indexOf('#');
    if (hash >= 0) path = path.slice(0, hash);
    const a = parseAuthority(authority, 80);
    return a ? { ...a, authority, originForm: path } : `bad authority ${JSON.stringify(authority)}`;
  }
  if (/^https:\/\//i.test(t)) return 'use CONNECT for https:// targets';
  if (t.startsWith('/') || t === '*') {
    if (head.host === undefined) return 'origin-form request without Host';
    const a = parseAuthority(head.host, 80);
    return a ? { ...a, authority: head.host, originForm: undefined } : `bad Host ${JSON.stringify(head.host)}`;
  }
  return `bad request-target ${JSON.stringify(t)}`;
}

export interface HttpProxyListenerOptions extends OutboundOptions {
  readonly listenHost?: string;
  readonly listenPort: number;
  readonly name?: string;
}

/**
 * An HTTP/1.1 forward proxy on an outbound port. Each request's host is resolved through the registry and the
 * request goes upstream in origin-form over mesh mTLS (or plaintext when the destination has no sidecar).
 * Keep-alive: one upstream per downstream connection while the target stays the same; a request for another
 * target waits until every response of the current upstream has been relayed, then that upstream is closed
 * and a new one opened (responses never interleave). CONNECT opens a tunnel. Unknown service: 502 naming it.
 */
export class HttpProxyListener extends TcpListener {
  readonly #opts: HttpProxyListenerOptions;
  readonly #timeouts: ProxyTimeouts;
  /** Destinations opened since start (for /config_dump). */
  readonly #resolved = new Map<string, { address: string; mode: OutboundMode; expectedIds: readonly string[] }>();

  constructor(opts: HttpProxyListenerOptions) {
    super(opts.name ?? `http-proxy:${opts.listenPort}`, { host: opts.listenHost ?? '127.0.0.1', port: opts.listenPort });
    this.#opts = opts;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      direction: 'outbound',
      kind: 'http-proxy',
      listening: this.listening,
      address: this.describeAddress(),
      openConnections: this.connections,
      resolvedUpstreams: Object.fromEntries(this.#resolved),
    };
  }

  protected onConnection(down: Socket): void {
    new ForwardProxyConnection(down, this.name, this.#opts, this.#timeouts, this.#resolved).start();
  }
}

interface Upstream extends OpenedUpstream {
  readonly key: string;
  readonly tracker: ResponseTracker;
  readonly startedMs: number;
}

const kFwd = Symbol('forward');
type FwdSocket = Socket & { [kFwd]: ForwardProxyConnection };

function onUpData(this: FwdSocket, chunk: Buffer): void {
  this[kFwd].upData(this, chunk);
}
function onUpDrain(this: FwdSocket): void {
  this[kFwd].upDrain(this);
}
function onUpEnd(this: FwdSocket): void {
  this[kFwd].upEnd(this);
}
function onUpError(this: FwdSocket, err: Error): void {
  this[kFwd].upError(this, err);
}
function onUpClose(this: FwdSocket): void {
  this[kFwd].upClose(this);
}

function dropsProxyHeaders(id: HeaderId): boolean {
  return id === HeaderId.ProxyConnection || id === HeaderId.ProxyAuthorization;
}
function dropsProxyHeadersAndHost(id: HeaderId): boolean {
  return id === HeaderId.ProxyConnection || id === HeaderId.ProxyAuthorization || id === HeaderId.Host;
}

const CONNECT_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');

class ForwardProxyConnection implements PumpHandler, ResponseObserver {
  readonly #down: Socket;
  readonly #listener: string;
  readonly #opts: OutboundOptions;
  readonly #timeouts: ProxyTimeouts;
  readonly #resolved: Map<string, { address: string; mode: OutboundMode; expectedIds: readonly string[] }>;
  readonly #pump: RequestPump;
  #up: Upstream | undefined;
  #tunnel = false;
  /** The last request said the connection ends after its answer. */
  #closeAfter = false;
  #idleWaiter: (() => void) | undefined;
  #idleWatch: Timer | undefined;

  constructor(
    down: Socket,
    listener: string,
    opts: OutboundOptions,
    timeouts: ProxyTimeouts,
    resolved: Map<string, { address: string; mode: OutboundMode; expectedIds: readonly string[] }>,
  ) {
    this.#down = down;
    this.#listener = listener;
    this.#opts = opts;
    this.#timeouts = timeouts;
    this.#resolved = resolved;
    this.#pump = new RequestPump(down, this);
  }

  start(): void {
    const down = this.#down;
    down.once('close', () => {
      this.#idleWatch?.cancel();
      const up = this.#up;
      // A downstream gone before both directions finished leaves nothing to wait for upstream.
      if (up && !(down.readableEnded && down.writableFinished)) up.socket.destroy();
      this.#idleWaiter?.();
    });
    down.on('error', () => this.#up?.socket.destroy());
    this.#idleWatch = this.#opts.timer.watchIdle(
      () => down.bytesRead + (this.#up?.socket.bytesRead ?? 0),
      this.#timeouts.idleMs,
      () => {
        this.#up?.socket.destroy();
        down.destroy();
      },
    );
    this.#pump.start();
  }

  // --- PumpHandler

  onRequestHead(head: RequestHead): HeadVerdict {
    const target = parseProxyTarget(head);
    if (typeof target === 'string') {
      this.#pump.stop();
      this.onBadRequest(400, target);
      return 'hold';
    }
    const key = `${target.host}:${target.port}`;
    const up = this.#up;
    if (!head.connect && up && up.key === key && up.socket.writable && !up.socket.destroyed) return this.#send(up, head, target);
    void this.#switchTo(head, target, key);
    return 'hold';
  }

  onBytes(chunk: Buffer): boolean {
    const up = this.#up;
    return up ? up.socket.write(chunk) : true;
  }

  onRequestEnd(head: RequestHead): PumpVerdict {
    return head.upgrade ? 'hold' : 'go';
  }

  onBadRequest(status: number, detail: string): void {
    void this.#whenIdle().then(() => this.#respondAndClose(status, `mesh proxy: ${detail}`));
  }

  onDownstreamEnd(): void {
    if (this.#up) this.#up.socket.end();
    else this.#down.end();
  }

  // --- ResponseObserver (of the current upstream)

  onUpgradeResult(switched: boolean): void {
    if (switched) {
      this.#tunnel = true;
      this.#up?.socket.removeListener('data', onUpData);
    }
    this.#pump.release(switched);
  }

  onResponsesIdle(): void {
    const w = this.#idleWaiter;
    this.#idleWaiter = undefined;
    w?.();
  }

  onResponseError(detail: string): void {
    this.#opts.logger?.warn({ listener: this.#listener, detail }, 'cannot follow upstream responses; closing');
    this.#up?.socket.destroy();
    this.#down.destroy();
  }

  // --- upstream socket events (module-level listeners call these)

  upData(sock: Socket, chunk: Buffer): void {
    if (sock === this.#up?.socket) this.#up.tracker.feed(chunk);
  }
  upDrain(sock: Socket): void {
    if (sock === this.#up?.socket) this.#pump.drained();
  }
  upEnd(sock: Socket): void {
    const up = this.#up;
    if (!up || sock !== up.socket) return;
    if (this.#tunnel) {
      this.#down.end();
      return;
    }
    if (up.tracker.end()) {
      // A close-delimited response: the client learns where it ends only by our close.
      this.#down.end();
    } else if (up.tracker.outstanding > 0) {
      this.#down.destroy();
    } else if (this.#closeAfter || this.#down.readableEnded) {
      // The client asked to close (Connection: close, HTTP/1.0, or its own FIN) and has every answer.
      this.#down.end();
    }
    // An idle keep-alive upstream that the server closed: the next request opens a new one.
    this.#detach(up);
    sock.end();
  }
  upError(sock: Socket, _err: Error): void {
    const up = this.#up;
    if (!up || sock !== up.socket) return;
    if (this.#tunnel || up.tracker.outstanding > 0) this.#down.destroy();
    this.#detach(up);
  }
  upClose(sock: Socket): void {
    const up = this.#up;
    if (up && sock === up.socket) {
      if (this.#tunnel || up.tracker.outstanding > 0) {
        if (!(sock.readableEnded && sock.writableFinished)) this.#down.destroy();
      }
      this.#detach(up);
    }
  }

  // --- internals

  #send(up: Upstream, head: RequestHead, target: ProxyTarget): HeadVerdict {
    this.#closeAfter = !head.keepAlive;
    up.tracker.expect(expectationOf(head));
    const parts =
      target.originForm === undefined
        ? rewriteHead(head, dropsProxyHeaders, undefined)
        : rewriteHead(
            head,
            dropsProxyHeadersAndHost,
            Buffer.from(`host: ${target.authority}\r\n`, 'latin1'),
            Buffer.from(`${head.method} ${target.originForm} HTTP/1.${head.versionMinor}\r\n`, 'latin1'),
          );
    const s = up.socket;
    s.cork();
    for (const p of parts) s.write(p);
    s.uncork();
    return s.writableNeedDrain ? 'full' : 'go';
  }

  #whenIdle(): Promise<void> {
    const up = this.#up;
    if (!up || this.#tunnel || up.tracker.outstanding === 0 || this.#down.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idleWaiter = resolve;
    });
  }

  async #switchTo(head: RequestHead, target: ProxyTarget, key: string): Promise<void> {
    await this.#whenIdle();
    if (this.#down.destroyed) return;
    const old = this.#up;
    if (old) {
      this.#detach(old);
      old.socket.end();
    }
    const startedMs = performance.now();
    let opened: OpenedUpstream;
    try {
      opened = await openUpstream(target.host, target.port, this.#opts, this.#timeouts);
    } catch (err) {
      const words = reportOriginationFailure(this.#opts, this.#listener, key, this.#opts.resolver.resolve(target.host, target.port), err);
      this.#respondAndClose(err instanceof UpstreamError && err.reason === 'connect-timeout' ? 504 : 502, words);
      return;
    }
    if (this.#down.destroyed) {
      opened.socket.destroy();
      return;
    }
    this.#resolved.set(key, {
      address: `${opened.destination.address.host}:${opened.destination.address.port}`,
      mode: opened.tlsMode === 'mtls' ? 'mesh' : 'plaintext',
      expectedIds: opened.destination.expectedIds,
    });
    acceptedEvent(this.#opts, this.#listener, this.#down, opened);
    const up: Upstream = { ...opened, key, tracker: new ResponseTracker(this), startedMs };
    this.#up = up;
    const s = up.socket as FwdSocket;
    s[kFwd] = this;
    const closed = closedEvent(this.#opts, this.#listener, up, startedMs);
    s.once('close', () => closed({ downBytes: s.bytesWritten, upBytes: s.bytesRead, error: undefined, idleTimedOut: false }));
    s.on('data', onUpData).on('drain', onUpDrain).on('end', onUpEnd).on('error', onUpError).on('close', onUpClose);
    s.pipe(this.#down, { end: false });
    if (head.connect) {
      this.#tunnel = true;
      s.removeListener('data', onUpData);
      this.#down.write(CONNECT_ESTABLISHED);
      this.#pump.release(true);
      return;
    }
    this.#send(up, head, target);
    this.#pump.release(false);
  }

  #detach(up: Upstream): void {
    if (this.#up !== up) return;
    this.#up = undefined;
    up.socket.unpipe(this.#down);
    up.socket.removeListener('data', onUpData).removeListener('drain', onUpDrain).removeListener('end', onUpEnd);
    const w = this.#idleWaiter;
    this.#idleWaiter = undefined;
    w?.();
  }

  #respondAndClose(status: number, words: string): void {
    this.#pump.stop();
    const up = this.#up;
    if (up) {
      this.#detach(up);
      up.socket.end();
    }
    if (!this.#down.destroyed) this.#down.end(localResponse(status, words));
  }
}
