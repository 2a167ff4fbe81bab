import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Clock, Timer } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logging.js';
import { asError } from '../../../shared/errors.js';
import { policyDiscovery, type PolicyResponse, type PolicyStreamClient, type PolicyWorkloadMsg } from '../../../shared/policy-types.js';
import { Backoff } from '../identity/backoff.js';
import type { IdentitySource } from '../identity/snapshot.js';
import { mtlsCredentials, CHANNEL_OPTIONS } from '../control-plane-channel.js';

export interface PolicyClientOptions {
  readonly controlPlane: string;
  readonly bootstrapRootsPem: string;
  readonly workload: PolicyWorkloadMsg;
  readonly identity: IdentitySource;
  readonly trustDomain: string;
  /** Applies a policy version; throwing NACKs it and the previous one stays in force. */
  readonly apply: (policyJson: string, version: string) => void;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
}

/**
 * The proxy side of PolicyDiscovery: ACKs each version it applied, NACKs (with the error) each it
 * could not, and keeps the last applied policy while the control plane is away. Emits 'applied'
 * (version) and 'rejected' ({version, error}).
 */
export class PolicyClient extends EventEmitter {
  #client: grpc.Client | undefined;
  #call: PolicyStreamClient | undefined;
  #retry: Timer | undefined;
  #stopped = false;
  #applied = '';
  #synced = false;
  readonly #backoff: Backoff;

  constructor(private readonly o: PolicyClientOptions) {
    super();
    this.#backoff = new Backoff(o.random);
  }

  /** True once a first version was applied. */
  get synced(): boolean {
    return this.#synced;
  }
  get version(): string {
    return this.#applied;
  }

  start(): void {
    if (this.o.identity.current()) this.#connect();
    else this.o.identity.once('changed', () => this.#connect());
  }

  stop(): void {
    this.#stopped = true;
    this.#retry?.cancel();
    this.#call?.cancel();
    this.#client?.close();
  }

  #connect(): void {
    const snap = this.o.identity.current();
    if (this.#stopped || !snap) return;
    const Client = policyDiscovery();
    const client = new Client(this.o.controlPlane, mtlsCredentials(snap, this.o.bootstrapRootsPem, this.o.trustDomain), CHANNEL_OPTIONS);
    const call = (client as unknown as { StreamPolicy(): PolicyStreamClient }).StreamPolicy();
    this.#client = client;
    this.#call = call;
    call.on('data', (res: PolicyResponse) => this.#onResponse(call, res));
    call.on('error', (err: grpc.ServiceError) => this.#lost(client, err));
    call.on('end', () => this.#lost(client, undefined));
    call.write({ workload: this.o.workload, version_info: this.#applied });
  }

  #onResponse(call: PolicyStreamClient, res: PolicyResponse): void {
    this.#backoff.reset();
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

  #lost(client: grpc.Client, err: grpc.ServiceError | undefined): void {
    if (this.#client !== client) return;
    client.close();
    this.#client = undefined;
    this.#call = undefined;
    if (this.#stopped) return;
    const delay = this.#backoff.nextDelayMs();
    this.o.log.warn({ err: err?.details, retryInMs: delay }, 'policy stream lost; enforcing the last applied policy');
    this.#retry = this.o.clock.setTimer(delay, () => this.#connect());
  }
}
