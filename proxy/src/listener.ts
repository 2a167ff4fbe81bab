import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface ProxyTimeouts {
  /** Without a first byte (server-first protocols), decide "plaintext" after this long. */
  readonly firstBytesMs: number;
  readonly handshakeMs: number;
  /** A connection without a byte in either direction for this long is closed. */
  readonly idleMs: number;
  readonly connectMs: number;
}

export const DEFAULT_TIMEOUTS: ProxyTimeouts = Object.freeze({
  firstBytesMs: 5_000,
  handshakeMs: 10_000,
  idleMs: 60 * 60_000,
  connectMs: 10_000,
});

export interface ListenAt {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
}

function ignoreError(): void {
  // Accepted sockets always carry a listener; the leg that owns a socket reports its errors.
}

/**
 * The part every proxy listener shares: a net.Server with half-open sockets, the set of open connections
 * (for a forced close and /config_dump), and whether it is up (for /ready).
 */
export abstract class TcpListener {
  readonly name: string;
  readonly #at: ListenAt;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #listening = false;

  constructor(name: string, at: ListenAt, opts: { pauseOnConnect?: boolean } = {}) {
    this.name = name;
    this.#at = at;
    this.#server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: opts.pauseOnConnect ?? false }, (s) => this.#accept(s));
  }

  protected abstract onConnection(socket: Socket): void;
  abstract describe(): Record<string, unknown>;

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#at.port, this.#at.host, () => {
        this.#server.removeListener('error', reject);
        this.#listening = true;
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  get listening(): boolean {
    return this.#listening;
  }
  get address(): AddressInfo | undefined {
    const a = this.#server.address();
    return a && typeof a === 'object' ? a : undefined;
  }
  /** The bound port (the configured one, or the one picked for port 0). */
  get port(): number {
    return this.address?.port ?? this.#at.port;
  }
  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops accepting; open connections carry on unless `force`, which destroys them. */
  close(force = false): Promise<void> {
    this.#listening = false;
    if (force) for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => {
      if (!this.#server.listening) resolve();
      else this.#server.close(() => resolve());
    });
  }

  protected describeAddress(): string {
    const a = this.address;
    return a ? `${a.address}:${a.port}` : `${this.#at.host}:${this.#at.port}`;
  }

  #accept(socket: Socket): void {
    socket.on('error', ignoreError);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    this.onConnection(socket);
  }
}
