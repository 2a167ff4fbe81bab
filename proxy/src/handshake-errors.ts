import { MeshError, errnoCode } from '../../shared/errors.js';

/**
 * Why a connection did not get through the mesh handshake. A closed union: every failure path sets
 * exactly one, and it is what metrics (`reason` label), logs and `meshctl` show.
 */
export type HandshakeFailureReason =
  | 'cert_expired'
  | 'cert_not_yet_valid'
  | 'unknown_authority'
  | 'identity_mismatch'
  | 'bad_key_usage'
  | 'bad_certificate'
  | 'no_client_cert'
  | 'protocol_mismatch'
  | 'plaintext_refused'
  | 'handshake_timeout'
  | 'peer_reset'
  | 'no_identity'
  | 'other';

export const HANDSHAKE_FAILURE_REASONS: readonly HandshakeFailureReason[] = [
  'cert_expired',
  'cert_not_yet_valid',
  'unknown_authority',
  'identity_mismatch',
  'bad_key_usage',
  'bad_certificate',
  'no_client_cert',
  'protocol_mismatch',
  'plaintext_refused',
  'handshake_timeout',
  'peer_reset',
  'no_identity',
  'other',
];

const EXPLANATIONS: Readonly<Record<HandshakeFailureReason, string>> = {
  cert_expired: 'the peer certificate (or a CA in its chain) has expired',
  'cert_not_yet_valid': 'the peer certificate (or a CA in its chain) is not valid yet: check clocks',
  'unknown_authority': 'the peer certificate does not chain to a root of the trust bundle',
  'identity_mismatch': 'the peer certificate does not carry an expected SPIFFE ID',
  'bad_key_usage': 'the peer certificate lacks the key usage / extended key usage this side needs',
  'bad_certificate': 'the peer certificate was refused as malformed or unsupported',
  'no_client_cert': 'the client did not present a certificate',
  protocol_mismatch: 'the peers share no TLS version, cipher suite or ALPN protocol',
  'plaintext_refused': 'the connection is not mesh mTLS and the effective mode refuses it',
  'handshake_timeout': 'the handshake did not complete in time',
  'peer_reset': 'the peer closed or reset the connection during the handshake',
  'no_identity': 'this proxy holds no certificate yet',
  other: 'the handshake failed for another reason',
};

/** The words an operator reads next to the reason. */
export function explainHandshakeFailure(reason: HandshakeFailureReason): string {
  return EXPLANATIONS[reason];
}

// OpenSSL verify results (X509_V_ERR_* as Node names them) and Node's ERR_SSL_* codes, mapped once at the boundary.
const BY_CODE: ReadonlyMap<string, HandshakeFailureReason> = new Map<string, HandshakeFailureReason>([
  ['CERT_HAS_EXPIRED', 'cert_expired'],
  ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'cert_expired'],
  ['CERT_NOT_YET_VALID', 'cert_not_yet_valid'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown_authority'],
  ['UNABLE_TO_GET_ISSUER_CERT', 'unknown_authority'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown_authority'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown_authority'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'unknown_authority'],
  ['CERT_SIGNATURE_FAILURE', 'unknown_authority'],
  ['CERT_UNTRUSTED', 'unknown_authority'],
  ['CERT_REJECTED', 'unknown_authority'],
  ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'unknown_authority'],
  ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'bad_certificate'],
  ['ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR', 'bad_certificate'],
  ['INVALID_PURPOSE', 'bad_key_usage'],
  ['KEYUSAGE_NO_CERTSIGN', 'bad_key_usage'],
  ['ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE', 'bad_key_usage'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'identity_mismatch'],
  ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'no_client_cert'],
  ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'no_client_cert'],
  ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'protocol_mismatch'],
  ['ERR_SSL_NO_SHARED_CIPHER', 'protocol_mismatch'],
  ['ERR_SSL_WRONG_VERSION_NUMBER', 'protocol_mismatch'],
  ['ERR_SSL_HTTP_REQUEST', 'protocol_mismatch'],
  ['ERR_TLS_HANDSHAKE_TIMEOUT', 'handshake_timeout'],
  ['ECONNRESET', 'peer_reset'],
  ['EPIPE', 'peer_reset'],
  ['ERR_STREAM_PREMATURE_CLOSE', 'peer_reset'],
]);

/** The handshake failure reason of a foreign error (Node TLS / OpenSSL / system), or of one of ours. */
export function handshakeFailureReason(err: unknown): HandshakeFailureReason {
  if (err instanceof HandshakeError) return err.reason;
  const code = errnoCode(err);
  if (code === undefined) return 'other';
  const known = BY_CODE.get(code);
  if (known) return known;
  // Every version / ALPN disagreement has its own OpenSSL code; they all mean the same thing here.
  if (code.startsWith('ERR_SSL_') && /VERSION|PROTOCOL|ALPN|APPLICATION_PROTOCOL|CIPHER/.test(code)) return 'protocol_mismatch';
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
