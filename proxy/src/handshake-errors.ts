import { MeshError, errnoCode } from '../../shared/errors.js';

/**
 * Why a connection did not get through the mesh handshake. A closed union: every failure path sets
 * exactly one, and it is what metrics (`reason` label), logs and `meshctl` show.
 */
export type HandshakeFailureReason =
  | 'expired'
  | 'not-yet-valid'
  | 'unknown-authority'
  | 'san-mismatch'
  | 'bad-key-usage'
  | 'bad-certificate'
  | 'no-client-cert'
  | 'protocol'
  | 'plaintext-refused'
  | 'handshake-timeout'
  | 'peer-reset'
  | 'no-identity'
  | 'other';

export const HANDSHAKE_FAILURE_REASONS: readonly HandshakeFailureReason[] = [
  'expired',
  'not-yet-valid',
  'unknown-authority',
  'san-mismatch',
  'bad-key-usage',
  'bad-certificate',
  'no-client-cert',
  'protocol',
  'plaintext-refused',
  'handshake-timeout',
  'peer-reset',
  'no-identity',
  'other',
];

const EXPLANATIONS: Readonly<Record<HandshakeFailureReason, string>> = {
  expired: 'the peer certificate (or a CA in its chain) has expired',
  'not-yet-valid': 'the peer certificate (or a CA in its chain) is not valid yet: check clocks',
  'unknown-authority': 'the peer certificate does not chain to a root of the trust bundle',
  'san-mismatch': 'the peer certificate does not carry an expected SPIFFE ID',
  'bad-key-usage': 'the peer certificate lacks the key usage / extended key usage this side needs',
  'bad-certificate': 'the peer certificate was refused as malformed or unsupported',
  'no-client-cert': 'the client did not present a certificate',
  protocol: 'the peers share no TLS version, cipher suite or ALPN protocol',
  'plaintext-refused': 'the connection is not mesh mTLS and the effective mode refuses it',
  'handshake-timeout': 'the handshake did not complete in time',
  'peer-reset': 'the peer closed or reset the connection during the handshake',
  'no-identity': 'this proxy holds no certificate yet',
  other: 'the handshake failed for another reason',
};

/** The words an operator reads next to the reason. */
export function explainHandshakeFailure(reason: HandshakeFailureReason): string {
  return EXPLANATIONS[reason];
}

// OpenSSL verify results (X509_V_ERR_* as Node names them) and Node's ERR_SSL_* codes, mapped once at the boundary.
const BY_CODE: ReadonlyMap<string, HandshakeFailureReason> = new Map<string, HandshakeFailureReason>([
  ['CERT_HAS_EXPIRED', 'expired'],
  ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'expired'],
  ['CERT_NOT_YET_VALID', 'not-yet-valid'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown-authority'],
  ['UNABLE_TO_GET_ISSUER_CERT', 'unknown-authority'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown-authority'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown-authority'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'unknown-authority'],
  ['CERT_SIGNATURE_FAILURE', 'unknown-authority'],
  ['CERT_UNTRUSTED', 'unknown-authority'],
  ['CERT_REJECTED', 'unknown-authority'],
  ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'unknown-authority'],
  ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'bad-certificate'],
  ['ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR', 'bad-certificate'],
  ['INVALID_PURPOSE', 'bad-key-usage'],
  ['KEYUSAGE_NO_CERTSIGN', 'bad-key-usage'],
  ['ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE', 'bad-key-usage'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'san-mismatch'],
  ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'no-client-cert'],
  ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'no-client-cert'],
  ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'protocol'],
  ['ERR_SSL_NO_SHARED_CIPHER', 'protocol'],
  ['ERR_SSL_WRONG_VERSION_NUMBER', 'protocol'],
  ['ERR_SSL_HTTP_REQUEST', 'protocol'],
  ['ERR_TLS_HANDSHAKE_TIMEOUT', 'handshake-timeout'],
  ['ECONNRESET', 'peer-reset'],
  ['EPIPE', 'peer-reset'],
  ['ERR_STREAM_PREMATURE_CLOSE', 'peer-reset'],
]);

/** The handshake failure reason of a foreign error (Node TLS / OpenSSL / system), or of one of ours. */
export function handshakeFailureReason(err: unknown): HandshakeFailureReason {
  if (err instanceof HandshakeError) return err.reason;
  const code = errnoCode(err);
  if (code === undefined) return 'other';
  const known = BY_CODE.get(code);
  if (known) return known;
  // Every version / ALPN disagreement has its own OpenSSL code; they all mean the same thing here.
  if (code.startsWith('ERR_SSL_') && /VERSION|PROTOCOL|ALPN|APPLICATION_PROTOCOL|CIPHER/.test(code)) return 'protocol';
  return 'other';
}

/** A handshake failure this proxy decided (secure naming, no identity, policy, timeout). */
export class HandshakeError extends MeshError {
  readonly code = 'MESH_ERR_PROXY_HANDSHAKE';
  /** What the peer presented, when it got that far (secure naming refusals). */
  readonly peerId: string | undefined;
  constructor(
    readonly reason: HandshakeFailureReason,
    readonly detail: string,
    options?: ErrorOptions & { peerId?: string },
  ) {
    super(`handshake failed (${reason}): ${detail}`, options);
    this.peerId = options?.peerId;
  }
}

/** Node's verify results come back as an Error whose `code` is the OpenSSL name; lift that into a HandshakeError. */
export function toHandshakeError(err: unknown, fallbackDetail: string): HandshakeError {
  if (err instanceof HandshakeError) return err;
  const reason = handshakeFailureReason(err);
  const detail = err instanceof Error ? `${errnoCode(err) ?? err.name}: ${err.message}` : fallbackDetail;
  return new HandshakeError(reason, detail, err instanceof Error ? { cause: err } : undefined);
}
