import { MeshError } from '../../../shared/errors.js';

/**
 * The control plane sent a policy this proxy does not fully understand (unknown schema, field, condition key,
 * action or mode). The proxy NACKs it and keeps enforcing the previous one: enforcing the part it understood
 * would turn an ignored DENY condition into access and an ignored ALLOW condition into a wider grant
 * (CVE-2022-21679).
 */
export class PolicyUnsupportedError extends MeshError {
  readonly code = 'MESH_ERR_POLICY_UNSUPPORTED';
  constructor(
    /** Path of the offending field, `authorization[0].rules[1].when[0].key`; `$` for the document itself. */
    readonly field: string,
    readonly detail: string,
  ) {
    super(`policy refused at ${field}: ${detail}`);
  }
}
