import { createHash, X509Certificate } from 'node:crypto';
import type { TrustBundleMsg } from '../shared/secret-types.js';
import type { CaMaterial } from './ca/index.js';
import type { TrustSource } from './grpc/secret-service.js';

/** The trust bundle handed to proxies, and the issuers whose certificates may renew. Built once per CA change. */
export class TrustState implements TrustSource {
  #bundle: TrustBundleMsg;
  #issuers: X509Certificate[];

  constructor(private readonly trustDomain: string, material: CaMaterial) {
    this.#bundle = this.#makeBundle(material);
    this.#issuers = [new X509Certificate(material.issuing.certPem)];
  }

  bundle(): TrustBundleMsg {
    return this.#bundle;
  }
  issuers(): readonly X509Certificate[] {
    return this.#issuers;
  }

  #makeBundle(material: CaMaterial): TrustBundleMsg {
    const roots = [...material.trustBundlePem];
    const version = createHash('sha256').update(roots.join('')).digest('hex').slice(0, 16);
    return { trust_domain: this.trustDomain, root_pem: roots, version };
  }
}
