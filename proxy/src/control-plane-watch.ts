import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Clock, Timer } from '../../shared/clock.js';
import type { Logger } from '../../shared/logging.js';
import { Backoff } from './identity/backoff.js';
import type { IdentitySource } from './identity/snapshot.js';
import { mtlsCredentials, CHANNEL_OPTIONS } from './control-plane-channel.js';

export interface WatchOptions {
  readonly controlPlane: string;
  readonly bootstrapRootsPem: string;
  readonly identity: IdentitySource;
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
}

/** Codes after which reconnecting cannot help: what we sent is refused. */
const FATAL = new Set([grpc.status.PERMISSION_DENIED, grpc.status.INVALID_ARGUMENT]);

type Duplex<Req, Res> = grpc.ClientDuplexStream<Req, Res>;

/**
 * One long-lived mTLS stream to the control plane (registry, policy): connects once the workload has a
 * certificate, reconnects with backoff while the control plane is away (the subclass keeps its last
 * state), and gives up only on a refusal. Emits 'refused' (Error) then.
 */
export abstract class ControlPlaneWatch<Req, Res> extends EventEmitter {
  #client: grpc.Client | undefined;
  #call: Duplex<Req, Res> | undefined;
  #retry: Timer | undefined;
  #stopped = false;
  readonly #backoff: Backoff;

  protected constructor(
    protected readonly w: WatchOptions,
    private readonly what: string,
  ) {
    super();
    this.#backoff = new Backoff(w.random);
  }

  /** Opens the stream on a fresh channel. */
  protected abstract open(client: grpc.Client): Duplex<Req, Res>;
  /** The request that starts (or restarts) the stream. */
  protected abstract hello(): Req;
  /** Handles one response; the subclass ACKs or NACKs on `call`. */
  protected abstract onResponse(call: Duplex<Req, Res>, res: Res): void;
  protected abstract service(): grpc.ServiceClientConstructor;

  get connected(): boolean {
    return this.#call !== undefined;
  }

  /** Connects now if the identity is there, else as soon as it arrives. */
  start(): void {
    if (this.w.identity.current()) this.#connect();
    else this.w.identity.once('changed', () => this.#connect());
  }

  stop(): void {
    this.#stopped = true;
    this.#retry?.cancel();
    this.#call?.cancel();
    this.#client?.close();
  }

  #connect(): void {
    const snap = this.w.identity.current();
    if (this.#stopped || !snap) return;
    const Client = this.service();
    const client = new Client(this.w.controlPlane, mtlsCredentials(snap, this.w.bootstrapRootsPem, this.w.trustDomain), CHANNEL_OPTIONS);
    const call = this.open(client);
    this.#client = client;
    this.#call = call;
    call.on('data', (res: Res) => {
      this.#backoff.reset();
      this.onResponse(call, res);
    });
    call.on('error', (err: grpc.ServiceError) => this.#lost(client, err));
    call.on('end', () => this.#lost(client, undefined));
    call.write(this.hello());
  }

  #lost(client: grpc.Client, err: grpc.ServiceError | undefined): void {
    if (this.#client !== client) return;
    client.close();
    this.#client = undefined;
    this.#call = undefined;
    if (this.#stopped) return;
    if (err && FATAL.has(err.code)) {
      this.w.log.error({ err: err.details }, `the control plane refused the ${this.what} stream`);
      this.emit('refused', new Error(err.details));
      return;
    }
    const delay = this.#backoff.nextDelayMs();
    this.w.log.warn({ err: err?.details, retryInMs: delay }, `${this.what} stream lost; keeping the last state and reconnecting`);
    this.#retry = this.w.clock.setTimer(delay, () => this.#connect());
  }
}
