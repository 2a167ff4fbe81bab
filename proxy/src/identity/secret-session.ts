import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { controlPlaneCredentials, CHANNEL_OPTIONS } from '../control-plane-channel.js';
import { secretDiscovery, type SecretRequest, type SecretResponse, type SecretStreamClient } from '../../../shared/secret-types.js';

export interface SessionCredentials {
  /** Roots that the control plane's serving certificate must chain to. */
  readonly rootsPem: string;
  /** Present for renewals: mTLS with the current certificate. */
  readonly keyPem?: string;
  readonly chainPem?: string;
  /** Present for bootstrap: sent only inside TLS. */
  readonly token?: string;
}

/**
 * One secret stream to the control plane over its own channel (channel credentials carry the client
 * certificate, so a new certificate means a new session). Emits 'response' and, once, 'closed'.
 */
export class SecretSession extends EventEmitter {
  readonly #client: grpc.Client;
  readonly #call: SecretStreamClient;
  #closed = false;

  constructor(target: string, creds: SessionCredentials, trustDomain: string) {
    super();
    const Client = secretDiscovery();
    this.#client = new Client(target, controlPlaneCredentials(creds.rootsPem, trustDomain, creds.keyPem, creds.chainPem), CHANNEL_OPTIONS);
    const md = new grpc.Metadata();
    if (creds.token) md.set('authorization', `Bearer ${creds.token}`);
    const stream = this.#client as unknown as { StreamSecrets(md: grpc.Metadata): SecretStreamClient };
    this.#call = stream.StreamSecrets(md);
    this.#call.on('data', (res: SecretResponse) => this.emit('response', res));
    this.#call.on('error', (err: grpc.ServiceError) => this.#finish(err));
    this.#call.on('end', () => this.#finish(undefined));
  }

  send(req: SecretRequest): void {
    if (!this.#closed) this.#call.write(req);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#call.cancel();
    this.#client.close();
  }

  #finish(err: grpc.ServiceError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
    this.emit('closed', err);
  }
}
