import type { Socket } from 'node:net';
import type { Clock, Timer } from '../../shared/clock.js';
import { MESH_ALPN } from '../../shared/secret-types.js';

/**
 * What the first bytes of an inbound connection are. `mesh-mtls`: a TLS ClientHello offering the mesh ALPN.
 * `tls`: any other ClientHello (the app's own TLS, passed through untouched). `plaintext`: not TLS at all,
 * or a client that stays silent (server-first protocols). `malformed`: starts like a TLS record but is not a
 * valid ClientHello.
 */
export type SniffKind = 'mesh-mtls' | 'tls' | 'plaintext' | 'malformed';

export const TLS_RECORD_HEADER_BYTES = 5;
/** RFC 8446 5.1: a plaintext record fragment is at most 2^14 bytes. */
export const MAX_TLS_FRAGMENT_BYTES = 16_384;
/** How much a sniffer buffers before it gives up on seeing the whole ClientHello. */
export const MAX_SNIFF_BYTES = MAX_TLS_FRAGMENT_BYTES + TLS_RECORD_HEADER_BYTES;

const CONTENT_TYPE_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;

export interface ClientHelloInfo {
  /** ALPN protocol names in the client's order; empty without the extension. */
  readonly alpn: readonly string[];
  /** SNI host_name, if sent. */
  readonly serverName: string | undefined;
  /** The ClientHello's legacy_version (0x0303 for TLS 1.2 and 1.3). */
  readonly legacyVersion: number;
  /** supported_versions extension (TLS 1.3 clients); empty without it. */
  readonly supportedVersions: readonly number[];
}

export type ClientHelloParse =
  | { readonly status: 'complete'; readonly hello: ClientHelloInfo; /** record bytes that carried the hello */ readonly bytes: number }
  | { readonly status: 'incomplete' }
  | { readonly status: 'not-tls' }
  | { readonly status: 'too-large' }
  | { readonly status: 'malformed'; readonly detail: string };

const INCOMPLETE: ClientHelloParse = Object.freeze({ status: 'incomplete' });
const NOT_TLS: ClientHelloParse = Object.freeze({ status: 'not-tls' });
const TOO_LARGE: ClientHelloParse = Object.freeze({ status: 'too-large' });

class Malformed extends Error {}

/** A bounds-checked reader over one handshake message; any overrun throws Malformed (caught in parseClientHello). */
class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new Malformed(`${what} overruns the hello`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++] ?? 0;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }
}

/**
 * Parses a TLS ClientHello from the first bytes of a connection. Pure; never throws. Handles a hello spread
 * over several records (each re-checked) and reports `incomplete` until enough bytes are there.
 */
export function parseClientHello(buf: Buffer, maxBytes: number = MAX_SNIFF_BYTES): ClientHelloParse {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] !== CONTENT_TYPE_HANDSHAKE) return NOT_TLS;
  // Record version: SSL 3.0 .. TLS 1.3 all start with 0x03; anything else is not a TLS record.
  if (buf.length >= 2 && buf[1] !== 0x03) return NOT_TLS;
  if (buf.length >= 3 && (buf[2] ?? 0) > 0x04) return NOT_TLS;

  // Gather the handshake message from one or more records.
  const fragments: Buffer[] = [];
  let gathered = 0;
  let pos = 0;
  let msgLen = -1;
  for (;;) {
    if (pos + TLS_RECORD_HEADER_BYTES > buf.length) return pos + TLS_RECORD_HEADER_BYTES > maxBytes ? TOO_LARGE : INCOMPLETE;
    if (buf[pos] !== CONTENT_TYPE_HANDSHAKE) return { status: 'malformed', detail: 'hello interrupted by a non-handshake record' };
    if (buf[pos + 1] !== 0x03 || (buf[pos + 2] ?? 0) > 0x04) return { status: 'malformed', detail: 'bad record version' };
    const recLen = buf.readUInt16BE(pos + 3);
    if (recLen === 0 || recLen > MAX_TLS_FRAGMENT_BYTES) return { status: 'malformed', detail: `bad record length ${recLen}` };
    const recEnd = pos + TLS_RECORD_HEADER_BYTES + recLen;
    if (recEnd > maxBytes) return TOO_LARGE;
    if (recEnd > buf.length) return INCOMPLETE;
    fragments.push(buf.subarray(pos + TLS_RECORD_HEADER_BYTES, recEnd));
    gathered += recLen;
    pos = recEnd;
    if (msgLen < 0 && gathered >= 4) {
      const first = fragments.length === 1 ? (fragments[0] as Buffer) : Buffer.concat(fragments);
      if (first[0] !== HANDSHAKE_CLIENT_HELLO) return { status: 'malformed', detail: `first handshake message is type ${first[0]}` };
      msgLen = first.readUIntBE(1, 3);
      // The hello's records can never be smaller than the message itself.
      if (4 + msgLen > maxBytes) return TOO_LARGE;
    }
    if (msgLen >= 0 && gathered >= 4 + msgLen) break;
  }
  const msg = fragments.length === 1 ? (fragments[0] as Buffer) : Buffer.concat(fragments);
  try {
    return { status: 'complete', hello: parseHelloBody(msg, 4, 4 + msgLen), bytes: pos };
  } catch (e) {
    if (e instanceof Malformed) return { status: 'malformed', detail: e.message };
    return { status: 'malformed', detail: String(e) };
  }
}

function parseHelloBody(buf: Buffer, start: number, end: number): ClientHelloInfo {
  const c = new Cursor(buf, start, end);
  const legacyVersion = c.u16('legacy_version');
  c.skip(32, 'random');
  const sessionIdLen = c.u8('session_id length');
  if (sessionIdLen > 32) throw new Malformed('session_id longer than 32 bytes');
  c.skip(sessionIdLen, 'session_id');
  const suitesLen = c.u16('cipher_suites length');
  if (suitesLen < 2 || suitesLen % 2 !== 0) throw new Malformed('bad cipher_suites length');
  c.skip(suitesLen, 'cipher_suites');
  const compressionLen = c.u8('compression_methods length');
  if (compressionLen < 1) throw new Malformed('no compression method');
  c.skip(compressionLen, 'compression_methods');

  let alpn: string[] = [];
  let serverName: string | undefined;
  let supportedVersions: number[] = [];
  if (c.pos === end) return { alpn, serverName, legacyVersion, supportedVersions };

  const extTotal = c.u16('extensions length');
  if (c.pos + extTotal !== end) throw new Malformed('extensions do not fill the hello');
  const seen = new Set<number>();
  while (c.pos < end) {
    const type = c.u16('extension type');
    const len = c.u16('extension length');
    c.need(len, 'extension body');
    if (seen.has(type)) throw new Malformed(`duplicate extension ${type}`);
    seen.add(type);
    const extEnd = c.pos + len;
    if (type === EXT_ALPN) alpn = parseAlpn(new Cursor(buf, c.pos, extEnd));
    else if (type === EXT_SERVER_NAME) serverName = parseServerName(new Cursor(buf, c.pos, extEnd));
    else if (type === EXT_SUPPORTED_VERSIONS) supportedVersions = parseSupportedVersions(new Cursor(buf, c.pos, extEnd));
    c.pos = extEnd;
  }
  return { alpn, serverName, legacyVersion, supportedVersions };
}

function parseAlpn(c: Cursor): string[] {
  const listLen = c.u16('ALPN list length');
  if (listLen < 2 || c.pos + listLen !== c.end) throw new Malformed('bad ALPN list length');
  const out: string[] = [];
  while (c.pos < c.end) {
    const n = c.u8('ALPN name length');
    if (n === 0) throw new Malformed('empty ALPN name');
    c.need(n, 'ALPN name');
    out.push(c.buf.toString('latin1', c.pos, c.pos + n));
    c.pos += n;
  }
  return out;
}

function parseServerName(c: Cursor): string | undefined {
  // A ClientHello may carry an empty server_name extension only in a ServerHello; in a hello the list is required.
  const listLen = c.u16('server_name list length');
  if (c.pos + listLen !== c.end) throw new Malformed('bad server_name list length');
  let name: string | undefined;
  while (c.pos < c.end) {
    const type = c.u8('server_name type');
    const n = c.u16('server_name length');
    c.need(n, 'server_name');
    if (type === 0 && name === undefined) name = c.buf.toString('latin1', c.pos, c.pos + n);
    c.pos += n;
  }
  return name;
}

function parseSupportedVersions(c: Cursor): number[] {
  const n = c.u8('supported_versions length');
  if (n < 2 || n % 2 !== 0 || c.pos + n !== c.end) throw new Malformed('bad supported_versions length');
  const out: number[] = [];
  while (c.pos < c.end) out.push(c.u16('supported version'));
  return out;
}

export interface SniffOutcome {
  readonly kind: SniffKind;
  readonly hello?: ClientHelloInfo;
  /** Why `malformed` / why an unparsed `tls` (too large). */
  readonly detail?: string;
}

/**
 * Classifies the first bytes. Returns undefined while more bytes could change the answer; `final` (the peer
 * ended, the buffer hit its cap, or the first-bytes timeout fired) forces a decision.
 */
export function classifyFirstBytes(buf: Buffer, final: boolean, maxBytes: number = MAX_SNIFF_BYTES): SniffOutcome | undefined {
  if (buf.length === 0) return final ? { kind: 'plaintext', detail: 'client sent nothing' } : undefined;
  const p = parseClientHello(buf, maxBytes);
  switch (p.status) {
    case 'complete':
      return { kind: p.hello.alpn.includes(MESH_ALPN) ? 'mesh-mtls' : 'tls', hello: p.hello };
    case 'not-tls':
      return { kind: 'plaintext' };
    case 'too-large':
      // Not a hello our proxies send (they are a few hundred bytes): someone else's TLS.
      return { kind: 'tls', detail: 'ClientHello larger than the sniff buffer' };
    case 'malformed':
      return { kind: 'malformed', detail: p.detail };
    case 'incomplete':
      return final ? { kind: 'malformed', detail: 'truncated ClientHello' } : undefined;
  }
}

export interface SniffedConnection extends SniffOutcome {
  /** Every byte read while sniffing; hand it back with restoreSniffedBytes or write it on. */
  readonly head: Buffer;
  /** The peer half-closed while sniffing: `head` is all it will ever send. */
  readonly ended: boolean;
  /** The decision was forced by the first-bytes timeout. */
  readonly timedOut: boolean;
}

export interface SniffOptions {
  /** Server-first protocols never speak first: after this long without a decision, decide with what is there. */
  readonly timeoutMs: number;
  readonly timer: Pick<Clock, 'setTimer'>;
  readonly maxBytes?: number;
}

const kSniff = Symbol('sniff');
type SniffSocket = Socket & { [kSniff]?: Sniffer };

class Sniffer {
  readonly #socket: SniffSocket;
  readonly #maxBytes: number;
  readonly #resolve: (r: SniffedConnection) => void;
  readonly #reject: (e: Error) => void;
  readonly #timer: Timer;
  #head: Buffer = Buffer.alloc(0);
  #done = false;

  constructor(socket: SniffSocket, opts: SniffOptions, resolve: (r: SniffedConnection) => void, reject: (e: Error) => void) {
    this.#socket = socket;
    this.#maxBytes = opts.maxBytes ?? MAX_SNIFF_BYTES;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#timer = opts.timer.setTimer(opts.timeoutMs, () => this.#decide(true, false, true));
  }

  data(chunk: Buffer): void {
    this.#head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk]);
    this.#decide(this.#head.length >= this.#maxBytes, false, false);
  }
  end(): void {
    this.#decide(true, true, false);
  }
  abort(err: Error): void {
    if (this.#done) return;
    this.#finish();
    this.#reject(err);
  }

  #decide(final: boolean, ended: boolean, timedOut: boolean): void {
    if (this.#done) return;
    const outcome = classifyFirstBytes(this.#head, final, this.#maxBytes);
    if (!outcome) return;
    this.#finish();
    this.#resolve({ ...outcome, head: this.#head, ended, timedOut });
  }

  #finish(): void {
    this.#done = true;
    this.#timer.cancel();
    const s = this.#socket;
    // Pause before the 'data' listener goes: a flowing stream without one drops bytes.
    s.pause();
    s.removeListener('data', onSniffData);
    s.removeListener('end', onSniffEnd);
    s.removeListener('error', onSniffError);
    s.removeListener('close', onSniffClose);
    delete s[kSniff];
  }
}

function onSniffData(this: SniffSocket, chunk: Buffer): void {
  this[kSniff]?.data(chunk);
}
function onSniffEnd(this: SniffSocket): void {
  this[kSniff]?.end();
}
function onSniffError(this: SniffSocket, err: Error): void {
  this[kSniff]?.abort(err);
}
function onSniffClose(this: SniffSocket): void {
  this[kSniff]?.abort(Object.assign(new Error('connection closed while sniffing'), { code: 'ECONNRESET' }));
}

/**
 * Reads the first bytes of `socket` until they classify (or the cap / timeout / peer end forces it). The socket
 * is left paused with the bytes in `head`; the caller must keep its own 'error' listener on the socket.
 */
export function sniffConnection(socket: Socket, opts: SniffOptions): Promise<SniffedConnection> {
  return new Promise<SniffedConnection>((resolve, reject) => {
    const s = socket as SniffSocket;
    s[kSniff] = new Sniffer(s, opts, resolve, reject);
    s.on('data', onSniffData).on('end', onSniffEnd).on('error', onSniffError).on('close', onSniffClose);
    s.resume();
  });
}

/**
 * Puts the sniffed bytes back in front of the socket's stream, so that the next reader (a TLSSocket, a pipe)
 * sees the connection from its first byte. Returns false when the peer already ended: then unshifting is
 * impossible and the caller writes `head` on itself.
 */
export function restoreSniffedBytes(socket: Socket, sniffed: SniffedConnection): boolean {
  if (sniffed.ended) return false;
  if (sniffed.head.length > 0) socket.unshift(sniffed.head);
  return true;
}
