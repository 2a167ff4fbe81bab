import { MeshError } from '../../shared/errors.js';

export type RegistrationRefusal = 'foreign-namespace' | 'bad-service-name' | 'bad-port' | 'bad-address' | 'missing-workload';

export class RegistrationRefusedError extends MeshError {
  readonly code = 'MESH_ERR_REGISTRATION_REFUSED';
  constructor(readonly reason: RegistrationRefusal, detail: string) {
    super(`registration refused (${reason}): ${detail}`);
  }
}
