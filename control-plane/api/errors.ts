import { MeshError } from '../../shared/errors.js';

export class BadRequestError extends MeshError {
  readonly code = 'MESH_ERR_BAD_REQUEST';
}
export class UnauthorizedError extends MeshError {
  readonly code = 'MESH_ERR_UNAUTHORIZED';
}
