import { status, Metadata, type StatusObject } from '@grpc/grpc-js';
import { MeshError, asError } from '../../shared/errors.js';
import { AuthError } from '../auth/index.js';
import { CsrRefusedError } from '../ca/index.js';
import { RegistrationRefusedError } from '../registry/index.js';

/** The one place where our error codes become gRPC status codes. */
export function toStatus(e: unknown): Partial<StatusObject> {
  const err = asError(e);
  const metadata = new Metadata();
  if (err instanceof MeshError) metadata.set('mesh-error-code', err.code);
  if (err instanceof AuthError) return { code: status.UNAUTHENTICATED, details: err.message, metadata };
  if (err instanceof CsrRefusedError) {
    metadata.set('mesh-csr-refusal', err.reason);
    const code = err.reason === 'identity-mismatch' ? status.PERMISSION_DENIED : status.INVALID_ARGUMENT;
    return { code, details: err.message, metadata };
  }
  if (err instanceof RegistrationRefusedError) {
    const code = err.reason === 'foreign-namespace' ? status.PERMISSION_DENIED : status.INVALID_ARGUMENT;
    return { code, details: err.message, metadata };
  }
  return { code: status.INTERNAL, details: err instanceof MeshError ? err.message : 'internal error', metadata };
}
