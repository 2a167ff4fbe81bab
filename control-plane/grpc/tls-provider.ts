import type { experimental } from '@grpc/grpc-js';

type Provider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdListener = experimental.IdentityCertificateUpdateListener;

/**
 * Feeds the gRPC server its serving certificate and the roots it asks client certificates for. Updating
 * it swaps the TLS context for new connections; open streams carry on.
 */
export class ServingCertificates implements Provider {
  #ca: Buffer | null = null;
  #identity: { certificate: Buffer; privateKey: Buffer } | null = null;
  readonly #caListeners = new Set<CaListener>();
  readonly #idListeners = new Set<IdListener>();

  update(chainPem: readonly string[], keyPem: string, rootsPem: readonly string[]): void {
    this.#identity = { certificate: Buffer.from(chainPem.join('')), privateKey: Buffer.from(keyPem) };
    this.#ca = Buffer.from(rootsPem.join(''));
    for (const l of this.#caListeners) l({ caCertificate: this.#ca });
    for (const l of this.#idListeners) l(this.#identity);
  }

  // grpc-js registers its own watcher only after adding these listeners, so an immediate callback
  // would be lost and the server would drop every connection: deliver the current state a tick later.
  addCaCertificateListener(l: CaListener): void {
    this.#caListeners.add(l);
    queueMicrotask(() => {
      if (this.#ca && this.#caListeners.has(l)) l({ caCertificate: this.#ca });
    });
  }
  removeCaCertificateListener(l: CaListener): void {
    this.#caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdListener): void {
    this.#idListeners.add(l);
    queueMicrotask(() => {
      if (this.#identity && this.#idListeners.has(l)) l(this.#identity);
    });
  }
  removeIdentityCertificateListener(l: IdListener): void {
    this.#idListeners.delete(l);
  }
}
