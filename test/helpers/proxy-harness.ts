// In-process building blocks for proxy tests: an identity source the test controls, tiny apps, event waits.
import { EventEmitter, once } from 'node:events';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { IdentitySnapshot, IdentitySource } from '../../proxy/src/identity/snapshot.js';

export class TestIdentitySource extends EventEmitter implements IdentitySource {
  #snap: IdentitySnapshot | undefined;
  constructor(snap?: IdentitySnapshot) {
    super();
    this.#snap = snap;
  }
  current(): IdentitySnapshot | undefined {
    return this.#snap;
  }
  set(snap: IdentitySnapshot): void {
    this.#snap = snap;
    this.emit('changed', snap);
  }
}

export function listenOn(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export function closeServer(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A TCP echo app with half-close: echoes bytes, and ends its side when the client ends. */
export async function startEchoApp(): Promise<{ port: number; server: Server; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const port = await listenOn(server);
  return {
    port,
    server,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

export interface SeenRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/** An httpbin-like app: answers every request with JSON of what it saw; /status/N answers N. */
export async function startHttpApp(): Promise<{ port: number; server: HttpServer; seen: SeenRequest[]; close(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: SeenRequest = { method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      const m = /^\/status\/(\d{3})/.exec(req.url ?? '');
      res.statusCode = m ? Number(m[1]) : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(r));
    });
  });
  const port = await listenOn(server);
  return {
    port,
    server,
    seen,
    close: async () => {
      server.closeAllConnections();
      await closeServer(server);
    },
  };
}

/** Waits for the first event that matches, under an abort timeout. */
export async function waitForEvent<T>(emitter: EventEmitter, event: string, match: (v: T) => boolean = () => true, ms = 5_000): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  for (;;) {
    const [v] = (await once(emitter, event, { signal })) as [T];
    if (match(v)) return v;
  }
}

/** Collects everything a socket sends until it ends (FIN) or closes (also by reset: refusals reset). */
export function readAll(s: Socket, ms = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const signal = AbortSignal.timeout(ms);
    const onAbort = (): void => reject(new Error(`readAll timed out with ${Buffer.concat(chunks).length} bytes`));
    signal.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      signal.removeEventListener('abort', onAbort);
      resolve(Buffer.concat(chunks));
    };
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.once('end', done);
    s.once('close', done);
  });
}

/** Resolves when the socket has closed, whatever the reason. */
export function closed(s: Socket, ms = 5_000): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(ms);
    const onAbort = (): void => reject(new Error('socket did not close in time'));
    signal.addEventListener('abort', onAbort, { once: true });
    s.on('error', () => undefined);
    s.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
