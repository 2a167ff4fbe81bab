import type { KeyObject } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { ConfigInvalidError } from '../../shared/errors.js';
import { spiffeId, type WorkloadIdentity } from '../../shared/spiffe.js';
import { describeCert, tbsFields } from '../../shared/x509/cert-info.js';
import { TAG, children, expectTag, integerHex, raw, readWhole, value } from '../../shared/x509/der.js';
import { OID_DER } from '../../shared/x509/oids.js';
import { derToPem } from '../../shared/x509/pem.js';
import { encodeGeneralNames, findExtension } from '../../shared/x509/san.js';
import { validateCaMaterial, type CaMaterial } from './ca-material.js';
import {
  EKU_SERVER_CLIENT,
  KU,
  authorityKeyIdExt,
  basicConstraintsExt,
  caSigner,
  distinguishedName,
  extension,
  keyIdentifier,
  keyUsageExt,
  randomSerial,
  signCertificate,
  spkiKeyBits,
  subjectKeyIdExt,
  tbsCertificate,
  validity,
  type CaSigner,
} from './cert-build.js';
import { checkCsr, checkCsrAsync, type ApprovedCsr } from './csr-check.js';
import { CaMaterialError, CsrRefusedError } from './errors.js';

/** Peers whose clocks run a little behind must accept a certificate issued just now. */
export const BACKDATE_MS = 60_000;

export interface IssuerOptions {
  readonly trustDomain: string;
  readonly defaultTtlMs: number;
  /** A longer requested TTL is capped here, not refused. */
  readonly maxTtlMs: number;
  readonly clock: Clock;
}

export interface IssuedCert {
  readonly certPem: string;
  /** Leaf, issuing CA, then intermediates up to (not including) the root. */
  readonly chainPem: string[];
  readonly serialHex: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

export interface ServingCertRequest {
  readonly publicKey: KeyObject;
  readonly uri?: string;
  readonly dnsNames?: readonly string[];
  /** Allowed here, unlike in workload CSRs: clients dial the control plane by address. */
  readonly ipAddresses?: readonly string[];
  readonly ttlMs?: number;
}

/**
 * Signs X.509-SVIDs from the issuing CA. Everything that is the same for every certificate (issuer
 * name, algorithm, constant extensions, chain) is encoded once here, so that a signature costs the
 * CSR check, one native verify, one native sign and a few buffer copies.
 */
export class Issuer {
  readonly trustDomain: string;
  readonly #o: IssuerOptions;
  readonly #signer: CaSigner;
  readonly #issuerName: Buffer;
  readonly #subject: Buffer;
  readonly #ecExtensions: readonly Buffer[];
  readonly #rsaExtensions: readonly Buffer[];
  readonly #chainTailPem: readonly string[];
  /** No certificate may outlive any CA above it: the chain would stop verifying first. */
  readonly #caNotAfterMs: number;
  #validity: { notBeforeMs: number; notAfterMs: number; der: Buffer } = { notBeforeMs: 0, notAfterMs: 0, der: Buffer.alloc(0) };

  constructor(material: CaMaterial, o: IssuerOptions) {
    const problems: string[] = [];
    if (!(o.defaultTtlMs > 0)) problems.push(`ca.defaultTtlMs: want > 0, got ${o.defaultTtlMs}`);
    if (!(o.maxTtlMs >= o.defaultTtlMs)) problems.push(`ca.maxTtlMs: want >= defaultTtlMs (${o.defaultTtlMs}), got ${o.maxTtlMs}`);
    if (problems.length) throw new ConfigInvalidError(problems);
    this.trustDomain = o.trustDomain;
    this.#o = o;
    const ca = validateCaMaterial(material);
    this.#signer = caSigner(material.issuing.key, 'issuing key');
    const der = ca.issuing.raw;
    const fields = tbsFields(der);
    // The issuer name is the CA's subject byte for byte: chain building compares encodings.
    this.#issuerName = Buffer.from(raw(der, expectTag(fields[4], TAG.SEQUENCE)));
    const exts = fields.find((f) => f.tag === 0xa3);
    const ski = exts ? findExtension(der, expectTag(children(der, exts)[0], TAG.SEQUENCE), OID_DER.subjectKeyIdentifier) : undefined;
    const caKeyId = ski ? value(ski.value, readWhole(ski.value, TAG.OCTET_STRING)) : keyIdentifier(spkiKeyBits(raw(der, expectTag(fields[5], TAG.SEQUENCE))));
    this.#subject = distinguishedName(o.trustDomain);
    const common = [basicConstraintsExt(false), EKU_SERVER_CLIENT, authorityKeyIdExt(Buffer.from(caKeyId))];
    this.#ecExtensions = [keyUsageExt([KU.digitalSignature]), ...common];
    // RSA key exchange (TLS 1.2 without ECDHE) encrypts to the certificate's key.
    this.#rsaExtensions = [keyUsageExt([KU.digitalSignature, KU.keyEncipherment]), ...common];
    this.#chainTailPem = [material.issuing.certPem, ...material.intermediatesPem];
    this.#caNotAfterMs = Math.min(...[ca.root, ...ca.intermediates, ca.issuing].map((c) => describeCert(c).notAfterMs));
  }

  /** Runs every CSR rule for the authenticated `identity`, then issues; the TTL is capped at the maximum. */
  signCsr(csrPem: string, identity: WorkloadIdentity, requestedTtlMs?: number): IssuedCert {
    this.#checkTrustDomain(identity);
    return this.#issueFor(checkCsr(csrPem, identity), requestedTtlMs);
  }

  /** signCsr with the faster EC key import (see checkCsrAsync); the work stays on this thread. */
  async signCsrAsync(csrPem: string, identity: WorkloadIdentity, requestedTtlMs?: number): Promise<IssuedCert> {
    this.#checkTrustDomain(identity);
    return this.#issueFor(await checkCsrAsync(csrPem, identity), requestedTtlMs);
  }

  /** The control plane's own TLS certificate, for a key it generated itself. */
  issueServing(r: ServingCertRequest): IssuedCert {
    const type = r.publicKey.asymmetricKeyType;
    if (r.publicKey.type !== 'public' || (type !== 'ec' && type !== 'rsa')) throw new RangeError('issueServing: want an EC or RSA public key');
    if (r.uri === undefined && !r.dnsNames?.length && !r.ipAddresses?.length) throw new RangeError('issueServing: a certificate needs a URI, DNS name or IP address');
    const san = encodeGeneralNames({ uris: r.uri === undefined ? [] : [r.uri], dnsNames: r.dnsNames, ipAddresses: r.ipAddresses });
    const spki = r.publicKey.export({ type: 'spki', format: 'der' });
    return this.#issue(spki, spkiKeyBits(spki), type === 'rsa', san, r.ttlMs);
  }

  #checkTrustDomain(identity: WorkloadIdentity): void {
    if (identity.trustDomain !== this.trustDomain) {
      throw new CsrRefusedError('identity-mismatch', `this control plane issues for trust domain ${this.trustDomain} only, not for ${spiffeId(identity)}`);
    }
  }

  #issueFor(csr: ApprovedCsr, requestedTtlMs: number | undefined): IssuedCert {
    return this.#issue(csr.spki, csr.publicKeyBits, csr.keyType === 'rsa', csr.sanDer, requestedTtlMs);
  }

  #issue(spki: Buffer, keyBits: Buffer, rsa: boolean, sanDer: Buffer, requestedTtlMs: number | undefined): IssuedCert {
    const now = this.#o.clock.now();
    const ttlMs = requestedTtlMs !== undefined && requestedTtlMs > 0 ? Math.min(requestedTtlMs, this.#o.maxTtlMs) : this.#o.defaultTtlMs;
    // X.509 times have whole seconds: report exactly what the certificate says.
    // Backdating absorbs clock skew, but it lengthens the lifetime that rotation at 80% is computed on:
    // for very short TTLs (tests, drills) a full minute would put the rotation point in the past.
    const notBeforeMs = Math.floor((now - Math.min(BACKDATE_MS, ttlMs / 10)) / 1000) * 1000;
    const notAfterMs = Math.floor(Math.min(now + ttlMs, this.#caNotAfterMs) / 1000) * 1000;
    if (notAfterMs <= now) {
      throw new CaMaterialError('issuing certificate', `the CA hierarchy expired at ${new Date(this.#caNotAfterMs).toISOString()}; no certificate can be issued from it`);
    }
    const serial = randomSerial();
    const extensions = [...(rsa ? this.#rsaExtensions : this.#ecExtensions), subjectKeyIdExt(keyIdentifier(keyBits)), extension(OID_DER.subjectAltName, false, sanDer)];
    if (this.#validity.notBeforeMs !== notBeforeMs || this.#validity.notAfterMs !== notAfterMs) {
      // Certificates issued within the same second share their validity encoding.
      this.#validity = { notBeforeMs, notAfterMs, der: validity(notBeforeMs, notAfterMs) };
    }
    const tbs = tbsCertificate({ serial, signer: this.#signer, issuer: this.#issuerName, validity: this.#validity.der, subject: this.#subject, spki, extensions });
    const certPem = derToPem(signCertificate(tbs, this.#signer), 'CERTIFICATE');
    return { certPem, chainPem: [certPem, ...this.#chainTailPem], serialHex: integerHex(serial, readWhole(serial, TAG.INTEGER)), notBeforeMs, notAfterMs };
  }
}
