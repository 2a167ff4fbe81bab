import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Clock, Timer } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logging.js';
import { registryService, type RegistryResponse, type RegistryStreamClient, type WorkloadMsg, type ServiceEntryMsg } from '../../../shared/registry-types.js';
import { Backoff } from '../identity/backoff.js';
import type { IdentitySource } from '../identity/snapshot.js';
import { mtlsCredentials, CHANNEL_OPTIONS } from '../control-plane-channel.js';

export interface RegistryClientOptions {
  readonly controlPlane: string;
  readonly bootstrapRootsPem: string;
  readonly workload: WorkloadMsg;
  readonly identity: IdentitySource;
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
}

/** Codes after which reconnecting cannot help: the registration itself is wrong. */
const FATAL = new Set([grpc.status.PERMISSION_DENIED, grpc.status.INVALID_ARGUMENT]);

/**
 * Registers this workload over mTLS and keeps the latest service snapshot. Emits 'services'
 * (ServiceEntryMsg[]) on every snapshot and 'refused' (Error) when the control plane rejects the
 * registration. Reconnects with backoff while the control plane is away, keeping the last snapshot.
 */
export class RegistryClient extends EventEmitter {
  #services: readonly ServiceEntryMsg[] = [];
  #version = '';
  #client: grpc.Client | undefined;
  #call: RegistryStreamClient | undefined;
  #retry: Timer | undefined;
  #stopped = false;
  readonly #backoff: Backoff;

  constructor(private readonly o: RegistryClientOptions) {
    super();
    this.#backoff = new Backoff(o.random);
  }

  get services(): readonly ServiceEntryMsg[] {
    return this.#services;
  }
  get version(): string {
    return this.#version;
  }
  get connected(): boolean {
    return this.#call !== undefined;
  }

  /** Connects now if the identity is there, else as soon as it arrives. */
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
    const Client = registryService();
    const client = new Client(this.o.controlPlane, mtlsCredentials(snap, this.o.bootstrapRootsPem, this.o.trustDomain), CHANNEL_OPTIONS);
    const call = (client as unknown as { Watch(): RegistryStreamClient }).Watch();
    this.#client = client;
    this.#call = call;
    call.on('data', (res: RegistryResponse) => {
      this.#backoff.reset();
      this.#services = res.services;
      this.#version = res.version_info;
      call.write({ version_info: res.version_info, response_nonce: res.nonce });
      this.emit('services', res.services);
    });
    call.on('error', (err: grpc.ServiceError) => this.#lost(client, err));
    call.on('end', () => this.#lost(client, undefined));
    call.write({ workload: this.o.workload });
  }

  #lost(client: grpc.Client, err: grpc.ServiceError | undefined): void {
    if (this.#client !== client) return;
    client.close();
    this.#client = undefined;
    this.#call = undefined;
    if (this.#stopped) return;
    if (err && FATAL.has(err.code)) {
      this.o.log.error({ err: err.details }, 'the control plane refused this workload\'s registration');
      this.emit('refused', new Error(err.details));
      return;
    }
    const delay = this.#backoff.nextDelayMs();
    this.o.log.warn({ err: err?.details, retryInMs: delay }, 'registry stream lost; keeping the last service snapshot');
    this.#retry = this.o.clock.setTimer(delay, () => this.#connect());
  }
}
