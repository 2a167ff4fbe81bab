import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import type { CertificateChainMsg, TrustBundleMsg } from '../../../shared/secret-types.js';
import { describeCert } from '../../../shared/x509/cert-info.js';
import { SecretRejectedError } from './errors.js';
import type { IdentitySnapshot } from './snapshot.js';

export interface ValidatedChain {
  readonly chainPem: readonly string[];
  readonly serialHex: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** A bundle must hold at least one parseable root of our trust domain. */
export function validateBundle(bundle: TrustBundleMsg | null | undefined, trustDomain: string): X509Certificate[] {
  if (!bundle || bundle.root_pem.length === 0) throw new SecretRejectedError('bundle-empty', 'the trust bundle holds no root');
  if (bundle.trust_domain !== trustDomain) {
    throw new SecretRejectedError('trust-domain', `bundle is for trust domain ${bundle.trust_domain}, this proxy is in ${trustDomain}`);
  }
  try {
    return bundle.root_pem.map((p) => new X509Certificate(p));
  } catch {
    throw new SecretRejectedError('chain-malformed', 'a root in the trust bundle does not parse');
  }
}

/**
 * Checks a certificate chain before the proxy serves with it: it is for our key and our SPIFFE ID,
 * it is valid now, and it chains to one of the roots we trust.
 */
export function validateChain(
  msg: CertificateChainMsg,
  publicKey: KeyObject,
  expectedId: string,
  roots: readonly X509Certificate[],
  nowMs: number,
): ValidatedChain {
  let certs: X509Certificate[];
  try {
    certs = msg.pem.map((p) => new X509Certificate(p));
  } catch {
    throw new SecretRejectedError('chain-malformed', 'a certificate in the chain does not parse');
  }
  const leaf = certs[0];
  if (!leaf) throw new SecretRejectedError('chain-malformed', 'the chain is empty');
  const ours = publicKey.export({ type: 'spki', format: 'der' });
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(ours)) {
    throw new SecretRejectedError('key-mismatch', 'the certificate is not for the key this proxy generated');
  }
  const info = describeCert(leaf.raw);
  if (info.uriSans.length !== 1 || info.uriSans[0] !== expectedId) {
    throw new SecretRejectedError('identity-mismatch', `want ${expectedId}, the certificate names ${JSON.stringify(info.uriSans)}`);
  }
  if (nowMs >= info.notAfterMs) throw new SecretRejectedError('expired', `the certificate expired at ${new Date(info.notAfterMs).toISOString()}`);
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i];
    const parent = certs[i + 1];
    if (!child || !parent || !child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new SecretRejectedError('chain-untrusted', `certificate ${i} of the chain is not signed by certificate ${i + 1}`);
    }
  }
  const top = certs[certs.length - 1] as X509Certificate;
  if (!roots.some((r) => top.checkIssued(r) && top.verify(r.publicKey))) {
    throw new SecretRejectedError('chain-untrusted', `the chain's top (issuer ${top.issuer.replace(/\n/g, ', ')}) is not signed by any root of the trust bundle`);
  }
  return { chainPem: msg.pem, serialHex: info.serialHex, notBeforeMs: info.notBeforeMs, notAfterMs: info.notAfterMs };
}

/** Does the chain a snapshot serves still verify, for its own key and ID, against these roots now? Throws if not. */
export function validateSnapshotChain(snap: IdentitySnapshot, roots: readonly X509Certificate[], nowMs: number): void {
  validateChain(
    { pem: [...snap.chainPem], serial_hex: snap.serialHex, not_before_unix_ms: snap.notBeforeMs, not_after_unix_ms: snap.notAfterMs },
    createPublicKey(snap.privateKey),
    snap.spiffeId,
    roots,
    nowMs,
  );
}
