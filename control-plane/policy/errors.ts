import { MeshError } from '../../shared/errors.js';

export class PolicyNotFoundError extends MeshError {
  readonly code = 'MESH_ERR_POLICY_NOT_FOUND';
  constructor(kind: string, namespace: string, name: string) {
    super(`no ${kind} ${namespace}/${name}`);
  }
}

export class WorkloadNotFoundError extends MeshError {
  readonly code = 'MESH_ERR_WORKLOAD_NOT_FOUND';
  constructor(namespace: string, name: string) {
    super(`no registered workload or service ${namespace}/${name} (is its proxy connected?)`);
  }
}
