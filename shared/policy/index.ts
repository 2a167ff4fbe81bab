// The only import path for policy parsing, resolution and evaluation.
export * from './types.js';
export { PolicyInvalidError, formatPolicyProblem, type PolicyProblem } from './errors.js';
export {
  DEFAULT_NAMESPACE,
  DEFAULT_ROOT_NAMESPACE,
  ISTIO_ROOT_NAMESPACE,
  TRANSLATED_FROM_ANNOTATION,
  parsePolicyDocuments,
  validatePolicy,
  type PolicyParseOptions,
} from './parse.js';
export { DEFAULT_INBOUND_MODE, clientTlsFor, qualifyHost, resolveWorkloadPolicy, type ResolveOptions, type WorkloadRef } from './resolve.js';
export { normalizePath, type NormalizedPath } from './path.js';
export { evaluate } from './authz.js';
export { matchString } from './string-match.js';
