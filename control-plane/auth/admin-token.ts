import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { join } from 'node:path';
import { readIfExists, writeFileAtomic } from '../../shared/crash-safe-file.js';
import { MeshError } from '../../shared/errors.js';

export const ADMIN_TOKEN_FILE = 'admin.token';

export class AdminTokenFileError extends MeshError {
  readonly code = 'MESH_ERR_ADMIN_TOKEN_FILE';
  constructor(readonly path: string, detail: string) {
    super(`${path}: ${detail}`);
  }
}

/** Reads `<data-dir>/admin.token`, creating it (mode 0600) on first start. */
export async function loadOrCreateAdminToken(dataDir: string): Promise<string> {
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  const existing = await readIfExists(path);
  if (existing !== undefined) {
    const token = existing.toString('utf8').trim();
    if (!/^[A-Za-z0-9_-]{32,}$/.test(token)) throw new AdminTokenFileError(path, 'does not hold an admin token (corrupt or edited); restore it or delete it to mint a new one');
    return token;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFileAtomic(path, `${token}\n`, 0o600);
  return token;
}

/** Constant-time check of a presented admin credential. */
export function adminTokenMatches(expected: string, presented: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}
