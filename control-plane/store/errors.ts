import { MeshError } from '../../shared/errors.js';

export class StoreCorruptError extends MeshError {
  readonly code = 'MESH_ERR_STORE_CORRUPT';
  constructor(readonly path: string, detail: string) {
    super(`store file ${path} is corrupt (${detail}); restore it from a backup or remove it by hand — it is never replaced silently`);
  }
}

export class StoreKeyError extends MeshError {
  readonly code = 'MESH_ERR_STORE_KEY';
  constructor(readonly key: string) {
    super(`invalid store key ${JSON.stringify(key)}: want non-empty segments of [A-Za-z0-9._:-] separated by /`);
  }
}
