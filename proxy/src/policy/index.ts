// The proxy's policy enforcement: what proxy.ts and the policy stream client import.
export { PolicyState, DEFAULT_WORKLOAD_POLICY, inboundModeFor, admitsInbound, type PolicyStateEvents } from './policy-state.js';
export { parseResolvedPolicy, validateResolvedPolicy } from './parse-policy.js';
export { PolicyUnsupportedError } from './errors.js';
export { policyDecideInbound, policyDecideOutbound } from './decide.js';
export { RBAC_DENIED_BODY } from './local-replies.js';
