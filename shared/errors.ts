/** Every error the mesh raises on purpose carries a stable code; logs, metrics, CLI and tests match on it. */
export abstract class MeshError extends Error {
  abstract readonly code: `MESH_ERR_${string}`;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ConfigInvalidError extends MeshError {
  readonly code = 'MESH_ERR_CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
  }
}

export class UsageError extends MeshError {
  readonly code = 'MESH_ERR_USAGE';
}

/** Narrows a caught value without `as`: everything thrown becomes an Error. */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** Node system errors carry a string `code` (ENOENT, ECONNREFUSED, ...). */
export function errnoCode(e: unknown): string | undefined {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}
