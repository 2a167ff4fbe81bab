/**
 * HTTP/1.1 framing for a proxy that rewrites request heads on the byte stream: a strict request-head parser,
 * a body framer (Content-Length / chunked) that passes body bytes through without copying, and a response
 * tracker that follows response boundaries so that upgrades and keep-alive are handled correctly.
 * Strict on requests (anything a downstream parser might read differently is a 400: request smuggling),
 * pragmatic on responses (they come from the app or a mesh peer).
 */

/** Largest request or response head the proxy buffers. */
export const MAX_HEAD_BYTES = 64 * 1024;
export const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const SEMI = 59;

export type BodyKind = 'none' | 'length' | 'chunked';

/** Headers the proxy acts on; everything else passes untouched and is not even decoded. */
export const enum HeaderId {
  Other = 0,
  ContentLength,
  TransferEncoding,
  Connection,
  Upgrade,
  Host,
  ForwardedClientCert,
  ProxyConnection,
  ProxyAuthorization,
  Expect,
}

const KNOWN_HEADERS: readonly [string, HeaderId][] = [
  ['content-length', HeaderId.ContentLength],
  ['transfer-encoding', HeaderId.TransferEncoding],
  ['connection', HeaderId.Connection],
  ['upgrade', HeaderId.Upgrade],
  ['host', HeaderId.Host],
  ['x-forwarded-client-cert', HeaderId.ForwardedClientCert],
  ['proxy-connection', HeaderId.ProxyConnection],
  ['proxy-authorization', HeaderId.ProxyAuthorization],
  ['expect', HeaderId.Expect],
];
const HEADERS_BY_LENGTH = new Map<number, { bytes: Buffer; id: HeaderId }[]>();
for (const [name, id] of KNOWN_HEADERS) {
  const list = HEADERS_BY_LENGTH.get(name.length) ?? [];
  list.push({ bytes: Buffer.from(name, 'latin1'), id });
  HEADERS_BY_LENGTH.set(name.length, list);
}

// RFC 9110 tchar.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
// field-value octets: HTAB, SP, VCHAR, obs-text.
const FIELD_VCHAR = new Uint8Array(256);
FIELD_VCHAR[HTAB] = 1;
for (let b = 0x20; b <= 0xff; b++) if (b !== 0x7f) FIELD_VCHAR[b] = 1;
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

function identify(buf: Buffer, start: number, end: number): HeaderId {
  const candidates = HEADERS_BY_LENGTH.get(end - start);
  if (!candidates) return HeaderId.Other;
  outer: for (const { bytes, id } of candidates) {
    for (let i = 0; i < bytes.length; i++) {
      let b = buf[start + i] ?? 0;
      if (b >= 0x41 && b <= 0x5a) b += 0x20;
      if (b !== bytes[i]) continue outer;
    }
    return id;
  }
  return HeaderId.Other;
}

/** A header line the proxy may drop or replace: byte range in `raw`, CRLF included. */
export interface MarkedHeader {
  readonly id: HeaderId;
  readonly start: number;
  readonly end: number;
}

export interface RequestHead {
  /** The head as received, from the request line to the final CRLFCRLF (leading empty lines excluded). */
  readonly raw: Buffer;
  readonly method: string;
  readonly target: string;
  readonly versionMinor: 0 | 1;
  /** Offset in `raw` of the first header line (just after the request line's CRLF). */
  readonly headersStart: number;
  readonly body: BodyKind;
  readonly contentLength: number;
  /** `Connection: upgrade` with an `Upgrade` header. */
  readonly upgrade: boolean;
  readonly connect: boolean;
  readonly isHead: boolean;
  /** The client lets the connection stay open after this request (HTTP/1.1 without `Connection: close`). */
  readonly keepAlive: boolean;
  /** `Expect: 100-continue`: the client may hold its body back until it sees 100 or a final answer. */
  readonly expectContinue: boolean;
  readonly host: string | undefined;
  readonly marked: readonly MarkedHeader[];
}

export type RequestHeadParse =
  | { readonly ok: true; readonly head: RequestHead }
  | { readonly ok: false; readonly status: 400 | 501 | 505; readonly detail: string };

function bad(detail: string, status: 400 | 501 | 505 = 400): RequestHeadParse {
  return { ok: false, status, detail };
}

/** Comma-separated tokens of a header value, lowercased and trimmed. */
function tokens(value: string): string[] {
  return value
    .toLowerCase()
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/**
 * Parses one request head: `raw` ends with CRLFCRLF. Leading empty lines (CRLF) are skipped, as RFC 9112 2.2
 * allows. Only the headers the proxy acts on are decoded.
 */
export function parseRequestHead(input: Buffer): RequestHeadParse {
  let s = 0;
  while (input[s] === CR && input[s + 1] === LF) s += 2;
  const raw = s === 0 ? input : input.subarray(s);
  const end = raw.length;
  if (end < 4 || raw[end - 4] !== CR || raw[end - 3] !== LF || raw[end - 2] !== CR || raw[end - 1] !== LF) {
    return bad('incomplete head');
  }

  // request-line = method SP request-target SP HTTP-version CRLF
  let i = 0;
  while (i < end && TCHAR[raw[i] ?? 0]) i++;
  if (i === 0 || raw[i] !== SP) return bad('bad method');
  const method = raw.toString('latin1', 0, i);
  const tStart = ++i;
  while (i < end && (raw[i] ?? 0) > 0x20 && raw[i] !== 0x7f) i++;
  if (i === tStart || raw[i] !== SP) return bad('bad request-target');
  const target = raw.toString('latin1', tStart, i);
  i++;
  if (raw.toString('latin1', i, i + 7) !== 'HTTP/1.') return bad('bad HTTP version', 505);
  const minor = raw[i + 7];
  if ((minor !== 0x30 && minor !== 0x31) || raw[i + 8] !== CR || raw[i + 9] !== LF) return bad('unsupported HTTP version', 505);
  const versionMinor = minor === 0x31 ? 1 : 0;
  const headersStart = i + 10;

  let contentLength = -1;
  let te: string | undefined;
  let connectionTokens: string[] = [];
  let upgradeSeen = false;
  let expectContinue = false;
  let host: string | undefined;
  const marked: MarkedHeader[] = [];

  let line = headersStart;
  while (line < end - 2) {
    const first = raw[line] ?? 0;
    if (first === SP || first === HTAB) return bad('obsolete line folding');
    let j = line;
    while (j < end && TCHAR[raw[j] ?? 0]) j++;
    if (j === line || raw[j] !== COLON) return bad('bad header name');
    const nameEnd = j;
    j++;
    while (raw[j] === SP || raw[j] === HTAB) j++;
    const vStart = j;
    while (j < end && FIELD_VCHAR[raw[j] ?? 0]) j++;
    if (raw[j] !== CR || raw[j + 1] !== LF) return bad('bad character in header value');
    let vEnd = j;
    while (vEnd > vStart && (raw[vEnd - 1] === SP || raw[vEnd - 1] === HTAB)) vEnd--;
    const next = j + 2;
    const id = identify(raw, line, nameEnd);
    if (id !== HeaderId.Other) {
      const value = raw.toString('latin1', vStart, vEnd);
      switch (id) {
        case HeaderId.ContentLength: {
          if (!/^\d{1,15}$/.test(value)) return bad('bad Content-Length');
          const n = Number(value);
          if (contentLength >= 0 && contentLength !== n) return bad('conflicting Content-Length');
          contentLength = n;
          break;
        }
        case HeaderId.TransferEncoding:
          te = te === undefined ? value : `${te},${value}`;
          break;
        case HeaderId.Connection:
          connectionTokens = connectionTokens.concat(tokens(value));
          break;
        case HeaderId.Upgrade:
          upgradeSeen = true;
          break;
        case HeaderId.Expect:
          if (value.toLowerCase() === '100-continue') expectContinue = true;
          break;
        case HeaderId.Host:
          if (host !== undefined) return bad('more than one Host');
          host = value;
          break;
        default:
          break;
      }
      marked.push({ id, start: line, end: next });
    }
    line = next;
  }
  if (line !== end - 2) return bad('bad header block');

  const connect = method === 'CONNECT';
  let body: BodyKind = 'none';
  if (te !== undefined) {
    // Transfer-Encoding and Content-Length together is the classic smuggling shape: refuse it.
    if (contentLength >= 0) return bad('both Transfer-Encoding and Content-Length');
    if (versionMinor === 0) return bad('Transfer-Encoding in HTTP/1.0');
    const codings = tokens(te);
    if (codings[codings.length - 1] !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) {
      return bad('request Transfer-Encoding must end with a single chunked', 501);
    }
    body = 'chunked';
  } else if (contentLength > 0) {
    body = 'length';
  }
  if (connect && body !== 'none') return bad('CONNECT with a body');
  return {
    ok: true,
    head: {
      raw,
      method,
      target,
      versionMinor,
      headersStart,
      body,
      contentLength: Math.max(0, contentLength),
      upgrade: upgradeSeen && connectionTokens.includes('upgrade'),
      connect,
      isHead: method === 'HEAD',
      keepAlive: versionMinor === 1 ? !connectionTokens.includes('close') : connectionTokens.includes('keep-alive'),
      expectContinue,
      host,
      marked,
    },
  };
}

/** The head without the header lines of the given ids; `extra` (complete lines, CRLF-terminated) goes last. */
export function rewriteHead(head: RequestHead, drop: (id: HeaderId) => boolean, extra: Buffer | undefined, requestLine?: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let from = 0;
  if (requestLine) {
    parts.push(requestLine);
    from = head.headersStart;
  }
  for (const m of head.marked) {
    if (!drop(m.id)) continue;
    if (m.start > from) parts.push(head.raw.subarray(from, m.start));
    from = m.end;
  }
  // Everything up to the final CRLF (the empty line), then the extra lines, then the empty line.
  const bodyStart = head.raw.length - 2;
  if (bodyStart > from) parts.push(head.raw.subarray(from, bodyStart));
  if (extra) parts.push(extra);
  parts.push(CRLF);
  return parts;
}

const enum Chunk {
  Size,
  SizeExt,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  EndLf,
}

/**
 * Finds the end of one message body in a byte stream without copying it. `feed` returns the offset where this
 * body ends inside [off, end) (or `end` if it goes on), or -1 on a framing error. Reused per connection.
 */
export class BodyFramer {
  #kind: BodyKind = 'none';
  #remaining = 0;
  #state = Chunk.Size;
  #sizeDigits = 0;
  done = true;

  start(kind: BodyKind, length: number): void {
    this.#kind = kind;
    this.#remaining = length;
    this.#state = Chunk.Size;
    this.#sizeDigits = 0;
    this.done = kind === 'none' || (kind === 'length' && length === 0);
  }

  feed(buf: Buffer, off: number, end: number): number {
    if (this.done) return off;
    if (this.#kind === 'length') {
      const n = Math.min(this.#remaining, end - off);
      this.#remaining -= n;
      if (this.#remaining === 0) this.done = true;
      return off + n;
    }
    return this.#chunked(buf, off, end);
  }

  #chunked(buf: Buffer, off: number, end: number): number {
    let i = off;
    while (i < end) {
      const b = buf[i] ?? 0;
      switch (this.#state) {
        case Chunk.Size: {
          const h = HEX[b] ?? -1;
          if (h >= 0) {
            if (++this.#sizeDigits > 13) return -1; // 13 hex digits stay below 2^53
            this.#remaining = this.#remaining * 16 + h;
            i++;
          } else if (this.#sizeDigits === 0) {
            return -1;
          } else if (b === SEMI) {
            this.#state = Chunk.SizeExt;
            i++;
          } else if (b === CR) {
            this.#state = Chunk.SizeLf;
            i++;
          } else {
            return -1;
          }
          break;
        }
        case Chunk.SizeExt:
          if (b === CR) this.#state = Chunk.SizeLf;
          else if (!FIELD_VCHAR[b]) return -1;
          i++;
          break;
        case Chunk.SizeLf:
          if (b !== LF) return -1;
          i++;
          this.#sizeDigits = 0;
          this.#state = this.#remaining === 0 ? Chunk.TrailerStart : Chunk.Data;
          break;
        case Chunk.Data: {
          const n = Math.min(this.#remaining, end - i);
          this.#remaining -= n;
          i += n;
          if (this.#remaining === 0) this.#state = Chunk.DataCr;
          break;
        }
        case Chunk.DataCr:
          if (b !== CR) return -1;
          this.#state = Chunk.DataLf;
          i++;
          break;
        case Chunk.DataLf:
          if (b !== LF) return -1;
          this.#state = Chunk.Size;
          i++;
          break;
        case Chunk.TrailerStart:
          if (b === CR) this.#state = Chunk.EndLf;
          else if (!TCHAR[b]) return -1;
          else this.#state = Chunk.Trailer;
          i++;
          break;
        case Chunk.Trailer:
          if (b === CR) this.#state = Chunk.TrailerLf;
          else if (!FIELD_VCHAR[b] && b !== COLON) return -1;
          i++;
          break;
        case Chunk.TrailerLf:
          if (b !== LF) return -1;
          this.#state = Chunk.TrailerStart;
          i++;
          break;
        case Chunk.EndLf:
          if (b !== LF) return -1;
          this.done = true;
          return i + 1;
      }
    }
    return i;
  }
}

/** What a response answers, recorded as the request goes upstream. */
export const enum Expect {
  Normal = 0,
  Head = 1,
  Connect = 2,
  Upgrade = 3,
}

export function expectationOf(head: RequestHead): Expect {
  if (head.isHead) return Expect.Head;
  if (head.connect) return Expect.Connect;
  if (head.upgrade) return Expect.Upgrade;
  return Expect.Normal;
}

export interface ResponseObserver {
  /** The response to an Upgrade (101 = switched) or CONNECT (2xx = tunnel) request has arrived. */
  onUpgradeResult(switched: boolean): void;
  /** Every request recorded so far has its complete response. */
  onResponsesIdle(): void;
  /** The response stream cannot be followed any more. */
  onResponseError(detail: string): void;
}

const enum R {
  Head,
  Body,
  UntilClose,
  Raw,
  Broken,
}

/**
 * Follows response boundaries on a connection (fed the same chunks that are piped to the client), so that the
 * proxy knows when an upgrade really happened and when a keep-alive connection has no response in flight.
 * Allocates only for response heads that span chunks.
 */
export class ResponseTracker {
  readonly #observer: ResponseObserver;
  readonly #pending: Expect[] = [];
  readonly #framer = new BodyFramer();
  #state = R.Head;
  #partial: Buffer | undefined;

  constructor(observer: ResponseObserver) {
    this.#observer = observer;
  }

  /** Requests whose response has not completed. */
  get outstanding(): number {
    return this.#pending.length;
  }
  get switched(): boolean {
    return this.#state === R.Raw;
  }

  expect(e: Expect): void {
    this.#pending.push(e);
  }

  feed(chunk: Buffer): void {
    let off = 0;
    let buf = chunk;
    while (off < buf.length) {
      switch (this.#state) {
        case R.Raw:
        case R.Broken:
        case R.UntilClose:
          return;
        case R.Body: {
          const n = this.#framer.feed(buf, off, buf.length);
          if (n < 0) return this.#broken('bad response body framing');
          off = n;
          if (this.#framer.done) this.#complete();
          break;
        }
        case R.Head: {
          if (this.#partial) {
            buf = Buffer.concat([this.#partial, buf.subarray(off)]);
            off = 0;
            this.#partial = undefined;
          }
          const at = buf.indexOf(CRLFCRLF, off);
          if (at < 0) {
            if (buf.length - off > MAX_HEAD_BYTES) return this.#broken('response head too large');
            this.#partial = Buffer.from(buf.subarray(off));
            return;
          }
          const headEnd = at + 4;
          this.#head(buf, off, headEnd);
          off = headEnd;
          break;
        }
      }
    }
  }

  /**
   * The upstream ended. Returns true when that completed a close-delimited response (the client must then see
   * a close too); anything else still outstanding was truncated.
   */
  end(): boolean {
    if (this.#state !== R.UntilClose) return false;
    this.#complete();
    return true;
  }

  #head(buf: Buffer, start: number, end: number): void {
    // status-line = HTTP-version SP status-code SP [reason-phrase]
    if (buf.toString('latin1', start, start + 7) !== 'HTTP/1.' || buf[start + 8] !== SP) return this.#broken('bad status line');
    const status = Number(buf.toString('latin1', start + 9, start + 12));
    if (!Number.isInteger(status) || status < 100 || status > 999) return this.#broken('bad status code');
    const expectation = this.#pending[0] ?? Expect.Normal;

    if (status === 101) {
      if (expectation !== Expect.Upgrade) return this.#broken('101 without an upgrade request');
      this.#pending.shift();
      this.#state = R.Raw;
      this.#observer.onUpgradeResult(true);
      return;
    }
    if (status < 200) return; // 1xx: informational, the final response follows
    if (expectation === Expect.Connect && status < 300) {
      this.#pending.shift();
      this.#state = R.Raw;
      this.#observer.onUpgradeResult(true);
      return;
    }
    if (expectation === Expect.Upgrade || expectation === Expect.Connect) this.#observer.onUpgradeResult(false);

    if (expectation === Expect.Head || status === 204 || status === 304) {
      this.#framer.start('none', 0);
      this.#complete();
      return;
    }
    let contentLength = -1;
    let chunked = false;
    let te = false;
    let line = buf.indexOf(CRLF, start) + 2;
    while (line < end - 2) {
      const lineEnd = buf.indexOf(CRLF, line);
      const colon = buf.indexOf(COLON, line);
      if (colon > line && colon < lineEnd) {
        const id = identify(buf, line, colon);
        if (id === HeaderId.ContentLength) {
          const v = buf.toString('latin1', colon + 1, lineEnd).trim();
          if (!/^\d{1,15}$/.test(v)) return this.#broken('bad response Content-Length');
          contentLength = Number(v);
        } else if (id === HeaderId.TransferEncoding) {
          te = true;
          const codings = tokens(buf.toString('latin1', colon + 1, lineEnd));
          chunked = codings[codings.length - 1] === 'chunked';
        }
      }
      line = lineEnd + 2;
    }
    if (te) {
      if (chunked) {
        this.#framer.start('chunked', 0);
        this.#state = R.Body;
      } else {
        this.#state = R.UntilClose;
      }
    } else if (contentLength >= 0) {
      this.#framer.start('length', contentLength);
      if (this.#framer.done) this.#complete();
      else this.#state = R.Body;
    } else {
      this.#state = R.UntilClose;
    }
  }

  #complete(): void {
    this.#state = R.Head;
    this.#pending.shift();
    if (this.#pending.length === 0) this.#observer.onResponsesIdle();
  }

  #broken(detail: string): void {
    this.#state = R.Broken;
    this.#observer.onResponseError(detail);
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** A complete response the proxy answers itself (errors); always closes the connection. */
export function localResponse(status: number, body: string): Buffer {
  const text = `${body}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
      'content-type: text/plain; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(text)}\r\n` +
      'connection: close\r\n\r\n' +
      text,
    'utf8',
  );
}
