import type { Socket } from 'node:net';
import { BodyFramer, CRLFCRLF, MAX_HEAD_BYTES, parseRequestHead, type RequestHead } from './http1.js';

/** What the pump does after a head or a complete request: go on, or hold the stream until `release`. */
export type PumpVerdict = 'go' | 'hold';
/** After writing a head the sink may already be full: `full` pauses reading until `drained()`. */
export type HeadVerdict = PumpVerdict | 'full';

/**
 * The owner of a request stream: it writes (rewritten) heads and body bytes to wherever they go.
 * Methods run per request or per chunk and must not allocate more than they forward.
 */
export interface PumpHandler {
  /** A complete, valid request head; write it on (rewritten) or hold to do something asynchronous first. */
  onRequestHead(head: RequestHead): HeadVerdict;
  /** Body bytes of the current request, or any bytes in raw mode. Returns false when the sink is full. */
  onBytes(chunk: Buffer): boolean;
  /** The request and its body are complete; hold for an upgrade / CONNECT whose answer decides the mode. */
  onRequestEnd(head: RequestHead): PumpVerdict;
  /** The stream is not acceptable HTTP/1.1; the pump stops reading. */
  onBadRequest(status: number, detail: string): void;
  /** The downstream half-closed, after every byte before the FIN was handed on. */
  onDownstreamEnd(): void;
}

const enum Mode {
  Head,
  Body,
  Raw,
  Dead,
}

const kPump = Symbol('pump');
type PumpSocket = Socket & { [kPump]?: RequestPump };

function onPumpData(this: PumpSocket, chunk: Buffer): void {
  this[kPump]?.data(chunk);
}
function onPumpEnd(this: PumpSocket): void {
  this[kPump]?.end();
}

/**
 * Reads HTTP/1.1 requests off a socket and hands heads and body bytes to a handler, passing body chunks on as
 * the same Buffer objects. Keep-alive: after each body the next head is parsed again. `hold` pauses the socket
 * (back-pressure, nothing is lost) until `release(raw)`: raw switches to a byte pipe for good (Upgrade, CONNECT).
 */
export class RequestPump {
  readonly #down: PumpSocket;
  readonly #handler: PumpHandler;
  readonly #framer = new BodyFramer();
  #mode = Mode.Head;
  #head: RequestHead | undefined;
  #partial: Buffer | undefined;
  #stash: Buffer | undefined;
  #held = false;
  #full = false;
  #ended = false;
  #endDelivered = false;
  /** An upgrade answer that came before the request finished (server answered early). */
  #early: boolean | undefined;

  constructor(down: Socket, handler: PumpHandler) {
    this.#down = down;
    this.#handler = handler;
  }

  /** Starts reading. `initial` are bytes already read off the socket (sniffing); `ended` if its FIN came too. */
  start(initial?: Buffer, ended = false): void {
    this.#down[kPump] = this;
    this.#down.on('data', onPumpData).on('end', onPumpEnd);
    this.#ended = ended;
    if (initial && initial.length > 0) this.#process(initial);
    this.#settle();
  }

  /** Ends a hold; `raw` switches to a byte pipe for the rest of the connection. */
  release(raw: boolean): void {
    if (this.#mode === Mode.Dead) return;
    if (!this.#held) {
      this.#early = raw;
      return;
    }
    this.#held = false;
    if (raw) this.#mode = Mode.Raw;
    const s = this.#stash;
    this.#stash = undefined;
    if (s) this.#process(s);
    this.#settle();
  }

  /** The sink drained: read again. */
  drained(): void {
    this.#full = false;
    this.#settle();
  }

  /** Stops reading for good (the owner is closing the connection). */
  stop(): void {
    this.#mode = Mode.Dead;
    this.#down.removeListener('data', onPumpData).removeListener('end', onPumpEnd);
    delete this.#down[kPump];
  }

  get held(): boolean {
    return this.#held;
  }

  data(chunk: Buffer): void {
    if (this.#held) {
      // Paused sockets do not emit, but a chunk already in flight may still arrive.
      this.#stash = this.#stash ? Buffer.concat([this.#stash, chunk]) : chunk;
    } else {
      this.#process(chunk);
    }
    this.#settle();
  }

  end(): void {
    this.#ended = true;
    this.#settle();
  }

  #settle(): void {
    if (this.#mode === Mode.Dead) return;
    if (this.#held || this.#full) {
      this.#down.pause();
      return;
    }
    if (this.#ended) {
      if (!this.#endDelivered) {
        this.#endDelivered = true;
        this.#handler.onDownstreamEnd();
      }
      return;
    }
    this.#down.resume();
  }

  #hold(buf: Buffer, off: number): void {
    this.#held = true;
    if (off < buf.length) this.#stash = buf.subarray(off);
  }

  #process(chunk: Buffer): void {
    let buf = chunk;
    let off = 0;
    for (;;) {
      if (this.#mode === Mode.Dead) return;
      if (this.#held) return this.#hold(buf, off);
      switch (this.#mode) {
        case Mode.Raw:
          if (off < buf.length && !this.#handler.onBytes(off === 0 ? buf : buf.subarray(off))) this.#full = true;
          return;
        case Mode.Body: {
          if (!this.#framer.done) {
            if (off >= buf.length) return;
            const n = this.#framer.feed(buf, off, buf.length);
            if (n < 0) return this.#bad(400, 'bad chunked body framing');
            if (n > off && !this.#handler.onBytes(off === 0 && n === buf.length ? buf : buf.subarray(off, n))) this.#full = true;
            off = n;
            if (!this.#framer.done) return;
          }
          const head = this.#head as RequestHead;
          this.#head = undefined;
          this.#mode = Mode.Head;
          if (this.#handler.onRequestEnd(head) === 'hold') {
            const early = this.#early;
            this.#early = undefined;
            if (early === undefined) this.#held = true;
            else if (early) this.#mode = Mode.Raw;
          }
          break;
        }
        case Mode.Head: {
          if (off >= buf.length) return;
          if (this.#partial) {
            buf = Buffer.concat([this.#partial, buf.subarray(off)]);
            off = 0;
            this.#partial = undefined;
          }
          const at = buf.indexOf(CRLFCRLF, off);
          if (at < 0) {
            if (buf.length - off > MAX_HEAD_BYTES) return this.#bad(431, 'request head too large');
            this.#partial = Buffer.from(buf.subarray(off));
            return;
          }
          if (at + 4 - off > MAX_HEAD_BYTES) return this.#bad(431, 'request head too large');
          const parsed = parseRequestHead(buf.subarray(off, at + 4));
          if (!parsed.ok) return this.#bad(parsed.status, parsed.detail);
          off = at + 4;
          this.#head = parsed.head;
          this.#framer.start(parsed.head.body, parsed.head.contentLength);
          this.#mode = Mode.Body;
          const verdict = this.#handler.onRequestHead(parsed.head);
          if (verdict === 'hold') this.#held = true;
          else if (verdict === 'full') this.#full = true;
          break;
        }
      }
    }
  }

  #bad(status: number, detail: string): void {
    this.stop();
    this.#handler.onBadRequest(status, detail);
  }
}
