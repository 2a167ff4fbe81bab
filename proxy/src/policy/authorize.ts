import { evaluate } from '../../../shared/policy/index.js';
import type { AuthzDecision, AuthzRequest, ResolvedAuthzPolicy } from '../../../shared/policy/types.js';
import type { RequestHead } from '../http1.js';
import type { ConnectionAttributes } from './authz-attributes.js';

const EVALUATION_FAILED: AuthzDecision = Object.freeze({ allowed: false, policy: '(evaluation-error)', reason: 'no-allow-matched' });

/** One decision; an evaluator that throws denies (fail closed) rather than taking the connection down. */
export function authorize(policies: readonly ResolvedAuthzPolicy[], req: AuthzRequest): AuthzDecision {
  try {
    return evaluate(policies, req);
  } catch {
    return EVALUATION_FAILED;
  }
}

const headerUse = new WeakMap<readonly ResolvedAuthzPolicy[], boolean>();

/** Does any rule look at a request header? Answered once per policy version. */
export function usesHeaders(policies: readonly ResolvedAuthzPolicy[]): boolean {
  let uses = headerUse.get(policies);
  if (uses === undefined) {
    uses = policies.some((p) => p.rules.some((r) => r.when?.some((c) => c.key.startsWith('request.headers[')) ?? false));
    headerUse.set(policies, uses);
  }
  return uses;
}

/**
 * L7: one request of an HTTP connection, `attrs.http` pointed at `head`. An absolute-form target whose
 * authority differs from Host is checked under both names: whichever the app routes by, a rule on it applies.
 */
export function authorizeRequest(policies: readonly ResolvedAuthzPolicy[], attrs: ConnectionAttributes, head: RequestHead): AuthzDecision {
  const http = attrs.http;
  if (!http) return authorize(policies, attrs);
  const otherHost = http.set(head, usesHeaders(policies));
  const d = authorize(policies, attrs);
  if (!d.allowed || otherHost === undefined) return d;
  http.host = otherHost;
  return authorize(policies, attrs);
}

/** The metric label of a denial: the deciding policy, or why none decided. */
export function denialLabel(d: AuthzDecision): string {
  if (d.policy !== undefined) return d.policy;
  return d.allowed ? '' : `(${d.reason})`;
}
