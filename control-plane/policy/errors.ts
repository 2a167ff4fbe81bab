import { MeshError } from '../../shared/errors.js';

export class PolicyNotFoundError extends MeshError {
  readonly code = 'MESH_ERR_POLICY_NOT_FOUND';
  constructor(kind: string, namespace: string, name: string) {
    super(`no ${kind} ${namespace}/${name}`);
  }
}
