import { MeshError } from '../errors.js';

/** One thing wrong with one policy object, with the field's path inside it. */
export interface PolicyProblem {
  /** 1-based YAML document number, when the object came from `parsePolicyDocuments`. */
  readonly document?: number;
  /** `Kind namespace/name` as far as it is known (`AuthorizationPolicy foo/bar`), else `document N`. */
  readonly object: string;
  /** Field path inside the object, e.g. `spec.rules[0].to[0].operation.pathz`; empty for the whole object. */
  readonly path: string;
  readonly reason: string;
}

export function formatPolicyProblem(p: PolicyProblem): string {
  return p.path === '' ? `${p.object}: ${p.reason}` : `${p.object}: ${p.path}: ${p.reason}`;
}

/** Every problem of every object in one apply: nothing is stored when this is thrown. */
export class PolicyInvalidError extends MeshError {
  readonly code = 'MESH_ERR_POLICY_INVALID';
  constructor(readonly problems: readonly PolicyProblem[]) {
    super(problems.map(formatPolicyProblem).join('; '));
  }
}
