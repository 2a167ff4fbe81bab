import { MeshError } from '../../shared/errors.js';

/**
 * Why a CSR was refused; what the refusal metric, the gRPC status and meshctl show. An overlong
 * requested TTL is not a refusal: it is capped at the maximum.
 */
export type CsrRefusal =
  | 'malformed' // not a parseable PKCS#10 request
  | 'weak-key' // key is not ECDSA P-256/P-384 or RSA >= 2048
  | 'bad-signature' // self-signature missing, of an unaccepted algorithm, or wrong
  | 'ca-requested' // asks for CA:TRUE, keyCertSign or cRLSign
  | 'san-count' // not exactly one URI SAN
  | 'san-type' // a SAN other than the URI and DNS names (IP, email, ...), or a DNS name that is not one
  | 'identity-mismatch'; // the URI SAN is not the authenticated workload's SPIFFE ID

export class CsrRefusedError extends MeshError {
  readonly code = 'MESH_ERR_CA_CSR_REFUSED';
  constructor(
    readonly reason: CsrRefusal,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`CSR refused (${reason}): ${detail}`, options);
  }
}

/** CA material that cannot be used: names the file (or the level, for material held in memory) and what is wrong. */
export class CaMaterialError extends MeshError {
  readonly code = 'MESH_ERR_CA_MATERIAL';
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`CA material ${file}: ${problem}`, options);
  }
}
