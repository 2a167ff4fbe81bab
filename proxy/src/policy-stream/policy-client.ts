import type * as grpc from '@grpc/grpc-js';
import { asError } from '../../../shared/errors.js';
import { policyDiscovery, type PolicyRequest, type PolicyResponse, type PolicyStreamClient, type PolicyWorkloadMsg } from '../../../shared/policy-types.js';
import { ControlPlaneWatch, type WatchOptions } from '../control-plane-watch.js';

export interface PolicyClientOptions extends WatchOptions {
  readonly workload: PolicyWorkloadMsg;
  /** Applies a policy version; throwing NACKs it and the previous one stays in force. */
  readonly apply: (policyJson: string, version: string) => void;
}

/**
 * The proxy side of PolicyDiscovery: ACKs each version it applied, NACKs (with the error) each it
 * could not, and keeps enforcing the last applied policy while the control plane is away. Emits
 * 'applied' (version) and 'rejected' ({version, error}).
 */
export class PolicyClient extends ControlPlaneWatch<PolicyRequest, PolicyResponse> {
  #applied = '';
  #synced = false;

  constructor(private readonly o: PolicyClientOptions) {
    super(o, 'policy');
  }

  /** True once a first version was applied. */
  get synced(): boolean {
    return this.#synced;
  }
  get version(): string {
    return this.#applied;
  }

  protected service(): grpc.ServiceClientConstructor {
    return policyDiscovery();
  }
  protected open(client: grpc.Client): PolicyStreamClient {
    return (client as unknown as { StreamPolicy(): PolicyStreamClient }).StreamPolicy();
  }
  protected hello(): PolicyRequest {
    return { workload: this.o.workload, version_info: this.#applied };
  }
  protected onResponse(call: PolicyStreamClient, res: PolicyResponse): void {
    try {
      this.o.apply(res.policy_json, res.version_info);
    } catch (e) {
      const err = asError(e);
      const code = 'code' in err && typeof err.code === 'string' ? err.code : 'MESH_ERR_INTERNAL';
      this.o.log.warn({ version: res.version_info, err: err.message }, 'NACK: cannot apply this policy; the previous one stays in force');
      call.write({ version_info: this.#applied, response_nonce: res.nonce, error_detail: { code, message: err.message } });
      this.emit('rejected', { version: res.version_info, error: err.message });
      return;
    }
    this.#applied = res.version_info;
    call.write({ version_info: res.version_info, response_nonce: res.nonce });
    this.o.log.info({ version: res.version_info, revision: res.revision }, 'policy applied');
    this.#synced = true;
    this.emit('applied', res.version_info);
  }
}
