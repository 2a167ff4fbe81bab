import type { AuthzRequest } from '../../../shared/policy/types.js';
import { parseSpiffeId } from '../../../shared/spiffe.js';
import type { RequestHead } from '../http1.js';

type HttpAttributes = NonNullable<AuthzRequest['http']>;
type Headers = HttpAttributes['headers'];

const XFCC = 'x-forwarded-client-cert';
const NO_HEADERS: Headers = Object.freeze({});

/** The client address as policies write it: an IPv4 client of a dual-stack listener is its IPv4 address. */
export function sourceIpOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return '';
  return remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.') ? remoteAddress.slice(7) : remoteAddress;
}

/** The namespace of a workload SPIFFE ID; undefined for plaintext or anything that is not one. */
export function namespaceOf(spiffeId: string | undefined): string | undefined {
  return spiffeId === undefined ? undefined : parseSpiffeId(spiffeId)?.namespace;
}

/**
 * Every header of a request head, names lowercased, repeated names as arrays. The caller's
 * x-forwarded-client-cert is left out and ours (after mTLS) put in: policies see the headers the app will see.
 */
export function decodeHeaders(head: RequestHead, xfcc: string | undefined): Headers {
  const out: Record<string, string | string[]> = {};
  const raw = head.raw;
  const end = raw.length - 2;
  let line = head.headersStart;
  while (line < end) {
    const eol = raw.indexOf('\r\n', line, 'latin1');
    const stop = eol < 0 ? end : eol;
    const colon = raw.indexOf(':', line, 'latin1');
    if (colon > line && colon < stop) {
      const name = raw.toString('latin1', line, colon).toLowerCase();
      if (name !== XFCC) {
        const value = raw.toString('latin1', colon + 1, stop).trim();
        const prev = out[name];
        if (prev === undefined) out[name] = value;
        else if (typeof prev === 'string') out[name] = [prev, value];
        else prev.push(value);
      }
    }
    line = stop + 2;
  }
  if (xfcc !== undefined) out[XFCC] = xfcc;
  return out;
}

/**
 * The L7 view of one connection's current request. Reused for every request of the connection: `set` only
 * stores what the parser already decoded, and headers are decoded only when a policy has a
 * `request.headers[…]` condition (else they read as none: nothing would look at them).
 */
export class HttpRequestAttributes implements HttpAttributes {
  method = '';
  path = '';
  host = '';
  readonly #xfcc: string | undefined;
  #head: RequestHead | undefined;
  #headers: Headers | undefined;
  #withHeaders = true;

  constructor(xfcc: string | undefined) {
    this.#xfcc = xfcc;
  }

  get headers(): Headers {
    if (this.#headers === undefined) this.#headers = this.#head && this.#withHeaders ? decodeHeaders(this.#head, this.#xfcc) : NO_HEADERS;
    return this.#headers;
  }

  /**
   * Points the view at a request. Returns the authority of an absolute-form target (`http://a/x`) when it
   * differs from Host: the app may route by either, so the caller checks both.
   */
  set(head: RequestHead, withHeaders = true): string | undefined {
    this.#head = head;
    this.#headers = undefined;
    this.#withHeaders = withHeaders;
    this.method = head.method;
    this.host = head.host ?? '';
    const t = head.target;
    if (t.charCodeAt(0) === 47 /* / */ || head.connect || t === '*') {
      this.path = t;
      if (head.connect && head.host === undefined) this.host = t;
      return undefined;
    }
    // absolute-form: RFC 9112 3.2.2 makes the target's authority win over Host.
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(t);
    if (!m) {
      this.path = t;
      return undefined;
    }
    const authority = m[1] ?? '';
    const rest = m[2] ?? '';
    this.path = rest === '' || rest.startsWith('?') || rest.startsWith('#') ? `/${rest}` : rest;
    return authority.toLowerCase() === this.host.toLowerCase() ? undefined : authority;
  }
}

/** The attributes of one inbound connection; `http` is present on HTTP ports (L7). */
export class ConnectionAttributes implements AuthzRequest {
  constructor(
    readonly sourcePrincipal: string | undefined,
    readonly sourceNamespace: string | undefined,
    readonly sourceIp: string,
    readonly destinationPort: number,
    readonly sni: string | undefined,
    readonly http: HttpRequestAttributes | undefined,
  ) {}

  static of(peerId: string | undefined, remoteAddress: string | undefined, destinationPort: number, sni: string | undefined, http: HttpRequestAttributes | undefined): ConnectionAttributes {
    return new ConnectionAttributes(peerId, namespaceOf(peerId), sourceIpOf(remoteAddress), destinationPort, sni, http);
  }
}
