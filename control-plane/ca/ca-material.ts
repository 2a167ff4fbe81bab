import { X509Certificate, type KeyObject } from 'node:crypto';
import { asError } from '../../shared/errors.js';
import { describeCert } from '../../shared/x509/cert-info.js';
import { CaMaterialError } from './errors.js';

/** The CA hierarchy the control plane issues from: root → intermediates → issuing CA → workloads. */
export interface CaMaterial {
  /** The key is absent when the operator keeps the root offline. */
  readonly root: { readonly certPem: string; readonly key?: KeyObject };
  /** Between the issuing CA and the root, nearest the issuing CA first (chain order); empty when two-tier. */
  readonly intermediatesPem: readonly string[];
  readonly issuing: { readonly certPem: string; readonly key: KeyObject };
  /** Every root a proxy should trust: this root, and more during CA rotation or for federation. */
  readonly trustBundlePem: readonly string[];
}

/** What `validateCaMaterial` calls each part in its errors: file names for material from disk. */
export interface CaLabels {
  readonly rootCert: string;
  readonly rootKey: string;
  readonly intermediates: string;
  readonly issuingCert: string;
  readonly issuingKey: string;
}

export const MEMORY_LABELS: CaLabels = {
  rootCert: 'root certificate',
  rootKey: 'root key',
  intermediates: 'intermediate certificates',
  issuingCert: 'issuing certificate',
  issuingKey: 'issuing key',
};

export interface ParsedCa {
  readonly root: X509Certificate;
  readonly intermediates: readonly X509Certificate[];
  readonly issuing: X509Certificate;
}

/**
 * Do these certificates and keys form a usable hierarchy? Each CA certificate must say CA:TRUE and be
 * signed by the next one up, the root by itself, and each key must belong to its certificate.
 */
export function validateCaMaterial(m: CaMaterial, labels: CaLabels = MEMORY_LABELS): ParsedCa {
  const root = parseCert(m.root.certPem, labels.rootCert);
  const intermediates = m.intermediatesPem.map((p, i) => parseCert(p, `${labels.intermediates} #${i + 1}`));
  const issuing = parseCert(m.issuing.certPem, labels.issuingCert);
  if (!root.checkIssued(root) || !verifies(root, root)) throw new CaMaterialError(labels.rootCert, 'the root certificate is not self-signed');
  if (m.root.key && !root.checkPrivateKey(m.root.key)) throw new CaMaterialError(labels.rootKey, `this key does not belong to the certificate in ${labels.rootCert}`);
  // Walk down from the root: [root, topmost intermediate, ..., issuing].
  const down = [root, ...[...intermediates].reverse(), issuing];
  const names = [labels.rootCert, ...intermediates.map((_, i) => `${labels.intermediates} #${i + 1}`).reverse(), labels.issuingCert];
  for (let i = 0; i < down.length; i++) {
    const cert = down[i] as X509Certificate;
    if (!cert.ca) throw new CaMaterialError(names[i] as string, 'the certificate is not a CA (basicConstraints CA:TRUE is missing)');
    const parent = down[i - 1];
    if (parent && (!cert.checkIssued(parent) || !verifies(cert, parent))) {
      throw new CaMaterialError(names[i] as string, `the certificate is not signed by ${names[i - 1]} (subject ${parent.subject.replace(/\n/g, ', ')})`);
    }
  }
  if (!issuing.checkPrivateKey(m.issuing.key)) throw new CaMaterialError(labels.issuingKey, `this key does not belong to the certificate in ${labels.issuingCert}`);
  return { root, intermediates, issuing };
}

export type CaLevelName = 'root' | 'intermediate' | 'issuing';

export interface CaLevel {
  readonly level: CaLevelName;
  readonly serialHex: string;
  readonly notAfterMs: number;
  readonly subject: string;
}

/** Each CA certificate's expiry, root first: what the CA expiry metric and `meshctl ca status` show. */
export function caLevels(m: CaMaterial): CaLevel[] {
  const level = (certPem: string, name: CaLevelName): CaLevel => {
    const i = describeCert(certPem);
    return { level: name, serialHex: i.serialHex, notAfterMs: i.notAfterMs, subject: i.subject };
  };
  return [level(m.root.certPem, 'root'), ...[...m.intermediatesPem].reverse().map((p) => level(p, 'intermediate')), level(m.issuing.certPem, 'issuing')];
}

function parseCert(pem: string, label: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new CaMaterialError(label, `not a readable PEM certificate (${asError(e).message})`, { cause: e });
  }
}

function verifies(cert: X509Certificate, by: X509Certificate): boolean {
  try {
    return cert.verify(by.publicKey);
  } catch {
    return false;
  }
}
