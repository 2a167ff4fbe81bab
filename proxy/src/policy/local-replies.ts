// What the inbound proxy answers itself when policy refuses: built once, written as is.

/** Envoy's RBAC body, byte for byte: clients and tests of Istio meshes match on it. */
export const RBAC_DENIED_BODY = 'RBAC: access denied';
const BAD_PATH_BODY = 'mesh proxy: request path refused (encoded slash or backslash, or a path outside /)';
const STRICT_BODY = 'mesh proxy: this port accepts only mesh mTLS (STRICT); plaintext refused\n';

export type DenialStatus = 400 | 403;

function reply(status: DenialStatus | 503, reason: string, body: string, keepAlive: boolean, withBody: boolean): Buffer {
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'content-type: text/plain\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      (keepAlive ? '' : 'connection: close\r\n') +
      '\r\n' +
      (withBody ? body : ''),
    'latin1',
  );
}

// [status][keepAlive][isHead]: a HEAD answer carries the length but no body, or the next response would be misread.
const REPLIES: Readonly<Record<DenialStatus, readonly [readonly [Buffer, Buffer], readonly [Buffer, Buffer]]>> = {
  403: [
    [reply(403, 'Forbidden', RBAC_DENIED_BODY, false, true), reply(403, 'Forbidden', RBAC_DENIED_BODY, false, false)],
    [reply(403, 'Forbidden', RBAC_DENIED_BODY, true, true), reply(403, 'Forbidden', RBAC_DENIED_BODY, true, false)],
  ],
  400: [
    [reply(400, 'Bad Request', BAD_PATH_BODY, false, true), reply(400, 'Bad Request', BAD_PATH_BODY, false, false)],
    [reply(400, 'Bad Request', BAD_PATH_BODY, true, true), reply(400, 'Bad Request', BAD_PATH_BODY, true, false)],
  ],
};

/** 403 `RBAC: access denied` or 400 for a refused path; `keepAlive` false adds `connection: close`. */
export function denialReply(status: DenialStatus, keepAlive: boolean, isHead: boolean): Buffer {
  return REPLIES[status][keepAlive ? 1 : 0][isHead ? 1 : 0];
}

/** The answer to a plaintext HTTP client on a STRICT port, before the proxy closes. */
export const STRICT_REFUSAL_REPLY: Buffer = reply(503, 'Service Unavailable', STRICT_BODY, false, true);

/** TLS alert records (RFC 8446 6): sent in the clear before any handshake keys exist. */
const alert = (description: number): Buffer => Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]);
/** To a mesh-ALPN ClientHello on a port that does not serve mesh mTLS: the client reports an ALPN failure. */
export const TLS_ALERT_NO_APPLICATION_PROTOCOL: Buffer = alert(120);
/** To someone else's TLS on a STRICT port. */
export const TLS_ALERT_ACCESS_DENIED: Buffer = alert(49);
