import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { WorkloadIdentity } from '../../shared/spiffe.js';
import type { Store } from '../store/index.js';
import { AuthError, TokenNotFoundError } from './errors.js';

const PREFIX = 'tokens/';
// `mesh.<16 hex id>.<43 base64url secret>`: the id finds the record, the secret is only ever stored hashed.
const TOKEN_RE = /^mesh\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export interface TokenRecord {
  readonly id: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  readonly revokedAtMs?: number;
  readonly secretSha256: string;
}

export interface TokenView {
  readonly id: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly state: 'active' | 'expired' | 'revoked';
}

export interface CreatedToken extends TokenView {
  /** The secret: shown once, never stored. */
  readonly token: string;
}

/** Bootstrap (join) tokens bound to one namespace/service account; they prove identity for a first certificate. */
export class BootstrapTokens {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly trustDomain: string,
  ) {}

  async create(namespace: string, serviceAccount: string, ttlMs: number): Promise<CreatedToken> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const rec: TokenRecord = {
      id,
      namespace,
      serviceAccount,
      createdAtMs: now,
      expiresAtMs: now + ttlMs,
      secretSha256: sha256(secret),
    };
    await this.store.put(PREFIX + id, rec);
    return { ...this.#view(rec), token: `mesh.${id}.${secret}` };
  }

  /** The identity a token proves, or AuthError naming why it proves nothing. */
  async authenticate(token: string): Promise<WorkloadIdentity> {
    const m = TOKEN_RE.exec(token.trim());
    if (!m) throw new AuthError('token-malformed', 'not a mesh bootstrap token (want mesh.<id>.<secret>)');
    const [, id = '', secret = ''] = m;
    const rec = (await this.store.get<TokenRecord>(PREFIX + id))?.value;
    // A hash compare even for unknown ids would not hide more: ids are not secret, secrets are.
    if (!rec || !timingSafeEqual(Buffer.from(rec.secretSha256, 'hex'), Buffer.from(sha256(secret), 'hex'))) {
      throw new AuthError('token-unknown', `token ${id} is not known to this control plane`);
    }
    if (rec.revokedAtMs !== undefined) {
      throw new AuthError('token-revoked', `token ${id} was revoked at ${new Date(rec.revokedAtMs).toISOString()}`);
    }
    if (this.clock.now() >= rec.expiresAtMs) {
      throw new AuthError('token-expired', `token ${id} expired at ${new Date(rec.expiresAtMs).toISOString()}; create a new one with meshctl token create`);
    }
    return { trustDomain: this.trustDomain, namespace: rec.namespace, serviceAccount: rec.serviceAccount };
  }

  async revoke(id: string): Promise<TokenView> {
    const rec = (await this.store.get<TokenRecord>(PREFIX + id))?.value;
    if (!rec) throw new TokenNotFoundError(id);
    if (rec.revokedAtMs !== undefined) return this.#view(rec);
    const revoked: TokenRecord = { ...rec, revokedAtMs: this.clock.now() };
    await this.store.put(PREFIX + id, revoked);
    return this.#view(revoked);
  }

  async list(): Promise<TokenView[]> {
    return (await this.store.list<TokenRecord>(PREFIX)).map((e) => this.#view(e.value));
  }

  #view(rec: TokenRecord): TokenView {
    const state = rec.revokedAtMs !== undefined ? 'revoked' : this.clock.now() >= rec.expiresAtMs ? 'expired' : 'active';
    return {
      id: rec.id,
      namespace: rec.namespace,
      serviceAccount: rec.serviceAccount,
      createdAt: new Date(rec.createdAtMs).toISOString(),
      expiresAt: new Date(rec.expiresAtMs).toISOString(),
      state,
    };
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
