import type * as grpc from '@grpc/grpc-js';
import { registryService, type RegistryRequest, type RegistryResponse, type RegistryStreamClient, type WorkloadMsg, type ServiceEntryMsg } from '../../../shared/registry-types.js';
import { ControlPlaneWatch, type WatchOptions } from '../control-plane-watch.js';

export interface RegistryClientOptions extends WatchOptions {
  readonly workload: WorkloadMsg;
}

/**
 * Registers this workload over mTLS and keeps the latest service snapshot. Emits 'services'
 * (ServiceEntryMsg[]) on every snapshot and 'refused' (Error) when the control plane rejects the
 * registration; while the control plane is away the last snapshot stays in use.
 */
export class RegistryClient extends ControlPlaneWatch<RegistryRequest, RegistryResponse> {
  #services: readonly ServiceEntryMsg[] = [];
  #version = '';

  constructor(private readonly o: RegistryClientOptions) {
    super(o, 'registry');
  }

  get services(): readonly ServiceEntryMsg[] {
    return this.#services;
  }
  get version(): string {
    return this.#version;
  }

  protected service(): grpc.ServiceClientConstructor {
    return registryService();
  }
  protected open(client: grpc.Client): RegistryStreamClient {
    return (client as unknown as { Watch(): RegistryStreamClient }).Watch();
  }
  protected hello(): RegistryRequest {
    return { workload: this.o.workload };
  }
  protected onResponse(call: RegistryStreamClient, res: RegistryResponse): void {
    this.#services = res.services;
    this.#version = res.version_info;
    call.write({ version_info: res.version_info, response_nonce: res.nonce });
    this.emit('services', res.services);
  }
}
