import { MeshError } from '../../../shared/errors.js';

/** Why the proxy refused (NACKed) what the control plane sent; it keeps what it had. */
export type SecretRejection = 'chain-malformed' | 'key-mismatch' | 'identity-mismatch' | 'chain-untrusted' | 'expired' | 'bundle-empty' | 'trust-domain';

export class SecretRejectedError extends MeshError {
  readonly code = 'MESH_ERR_SECRET_REJECTED';
  constructor(readonly reason: SecretRejection, detail: string) {
    super(`secret rejected (${reason}): ${detail}`);
  }
}

export class BootstrapError extends MeshError {
  readonly code = 'MESH_ERR_BOOTSTRAP';
}
