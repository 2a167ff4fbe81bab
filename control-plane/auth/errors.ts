import { MeshError } from '../../shared/errors.js';

/** Why a workload credential was not accepted; what the gRPC layer and the refusal metric report. */
export type AuthFailure =
  | 'no-credential'
  | 'token-malformed'
  | 'token-unknown'
  | 'token-expired'
  | 'token-revoked'
  | 'cert-untrusted'
  | 'cert-expired'
  | 'cert-identity';

export class AuthError extends MeshError {
  readonly code = 'MESH_ERR_AUTH';
  constructor(readonly reason: AuthFailure, detail: string) {
    super(`authentication failed (${reason}): ${detail}`);
  }
}

export class TokenNotFoundError extends MeshError {
  readonly code = 'MESH_ERR_TOKEN_NOT_FOUND';
  constructor(readonly id: string) {
    super(`no bootstrap token with id ${id}`);
  }
}
