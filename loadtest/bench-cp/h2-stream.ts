/**
 * A bare gRPC bidi-streaming client on node:http2 (one TLS connection, one stream, no channel, resolver,
 * load balancer or channelz), so that one load-generator process can play thousands of proxies without
 * becoming the bottleneck. Messages are (de)serialized with the same proto-loader definitions the
 * control plane uses; the wire format is gRPC's 5-byte length prefix per message.
 */
import { EventEmitter } from 'node:events';
import * as http2 from 'node:http2';
import type { SecureContext, PeerCertificate } from 'node:tls';
import type { MethodDefinition } from '@grpc/grpc-js';
import { checkControlPlane } from '../../proxy/src/control-plane-channel.js';

export interface H2StreamOptions {
  readonly target: string;
  readonly secureContext: SecureContext;
  readonly expectedServerId: string;
  readonly method: MethodDefinition<unknown, unknown>;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Emits 'message' (decoded response) and, once, 'closed' (Error | undefined). */
export class H2Stream<Req> extends EventEmitter {
  readonly #session: http2.ClientHttp2Session;
  readonly #stream: http2.ClientHttp2Stream;
  readonly #method: MethodDefinition<unknown, unknown>;
  #buf: Buffer = Buffer.alloc(0);
  #closed = false;
  #status: string | undefined;
  #statusMessage: string | undefined;

  constructor(o: H2StreamOptions) {
    super();
    this.#method = o.method;
    this.#session = http2.connect(`https://${o.target}`, {
      secureContext: o.secureContext,
      // As grpc-js's ssl_target_name_override: the control plane is authenticated by SPIFFE ID.
      servername: 'mesh-control-plane',
      checkServerIdentity: (_h: string, cert: PeerCertificate) => checkControlPlane(cert, o.expectedServerId),
    });
    this.#session.on('error', (e: Error) => this.#finish(e));
    this.#stream = this.#session.request({
      ':method': 'POST',
      ':path': o.method.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...o.metadata,
    });
    const onStatus = (h: http2.IncomingHttpHeaders): void => {
      const s = h['grpc-status'];
      if (typeof s === 'string') {
        this.#status = s;
        const m = h['grpc-message'];
        this.#statusMessage = typeof m === 'string' ? decodeURIComponent(m) : undefined;
      }
    };
    this.#stream.on('response', onStatus);
    this.#stream.on('trailers', onStatus);
    this.#stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#stream.on('error', (e: Error) => this.#finish(e));
    this.#stream.on('close', () => {
      const ok = this.#status === undefined || this.#status === '0';
      this.#finish(ok ? undefined : Object.assign(new Error(`grpc-status ${this.#status}: ${this.#statusMessage ?? ''}`), { details: this.#statusMessage }));
    });
  }

  send(req: Req): void {
    if (this.#closed) return;
    const body = this.#method.requestSerialize(req);
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame.writeUInt8(0, 0);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    this.#stream.write(frame);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream.close(http2.constants.NGHTTP2_CANCEL);
    this.#session.close();
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    while (this.#buf.length >= 5) {
      const len = this.#buf.readUInt32BE(1);
      if (this.#buf.length < 5 + len) return;
      const msg = this.#buf.subarray(5, 5 + len);
      this.#buf = this.#buf.subarray(5 + len);
      this.emit('message', this.#method.responseDeserialize(msg));
    }
  }

  #finish(err: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#session.close();
    this.emit('closed', err);
  }
}
