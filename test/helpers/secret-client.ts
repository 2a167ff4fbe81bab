import { once } from 'node:events';
import { SecretSession } from '../../proxy/src/identity/secret-session.js';
import type { SecretRequest, SecretResponse } from '../../shared/secret-types.js';

export interface StreamOutcome {
  response?: SecretResponse;
  error?: Error & { code?: number; details?: string; metadata?: { get(k: string): unknown[] } };
}

/**
 * Opens a real secret stream (TLS, the control plane's SPIFFE ID checked), sends one request and
 * returns the first response or the status the stream ended with.
 */
export async function askOnce(
  target: string,
  creds: { rootsPem: string; token?: string; keyPem?: string; chainPem?: string },
  req: SecretRequest,
  trustDomain = 'cluster.local',
): Promise<StreamOutcome & { session: SecretSession }> {
  const session = new SecretSession(target, creds, trustDomain);
  session.send(req);
  const signal = AbortSignal.timeout(15_000);
  const outcome = await Promise.race([
    once(session, 'response', { signal }).then(([response]) => ({ response: response as SecretResponse })),
    once(session, 'closed', { signal }).then(([error]) => ({ error: error as StreamOutcome['error'] })),
  ]);
  return { ...outcome, session };
}
