import { MeshError } from '../../shared/errors.js';

export class UnauthorizedError extends MeshError {
  readonly code = 'MESH_ERR_UNAUTHORIZED';
}
