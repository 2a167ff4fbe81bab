import { X509Certificate } from 'node:crypto';
import { DerError, TAG, children, expectTag, integerHex, readTime, readWhole, type Tlv } from './der.js';
import { OID_DER } from './oids.js';
import { singlePemDer } from './pem.js';
import { findExtension, parseGeneralNames } from './san.js';

export interface CertInfo {
  /** Lowercase hex of the serial's magnitude, no leading zero bytes. */
  readonly serialHex: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** Node's rendering, one RDN per ", ". */
  readonly subject: string;
  readonly issuer: string;
  readonly uriSans: string[];
  readonly dnsSans: string[];
  readonly ipSans: string[];
  readonly isCa: boolean;
  /** The URI SAN when it is the only one and a spiffe:// URI. */
  readonly spiffeId?: string;
  /** Colon-separated uppercase hex, as Node and openssl print it. */
  readonly fingerprint256: string;
}

/** What a certificate says, for logs, metrics, admin pages and checks; no verification here. */
export function describeCert(cert: string | Uint8Array | X509Certificate): CertInfo {
  const x = cert instanceof X509Certificate ? cert : new X509Certificate(typeof cert === 'string' ? singlePemDer(cert, ['CERTIFICATE']) : cert);
  const der = x.raw;
  const tbs = tbsFields(der);
  const serial = tbs[0];
  const [notBefore, notAfter] = children(der, expectTag(tbs[3], TAG.SEQUENCE));
  if (!notBefore || !notAfter) throw new DerError('the certificate validity lacks a time');
  const exts = tbs.find((t) => t.tag === 0xa3);
  const san = exts ? findExtension(der, expectTag(children(der, exts)[0], TAG.SEQUENCE), OID_DER.subjectAltName) : undefined;
  const names = san ? parseGeneralNames(san.value) : { uris: [], dnsNames: [], ipAddresses: [] };
  const [onlyUri] = names.uris;
  return {
    serialHex: integerHex(der, expectTag(serial, TAG.INTEGER)),
    notBeforeMs: readTime(der, notBefore),
    notAfterMs: readTime(der, notAfter),
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    uriSans: names.uris,
    dnsSans: names.dnsNames,
    ipSans: names.ipAddresses,
    isCa: x.ca,
    ...(names.uris.length === 1 && onlyUri?.startsWith('spiffe://') ? { spiffeId: onlyUri } : {}),
    fingerprint256: x.fingerprint256,
  };
}

/** The TBSCertificate's fields after the optional version: serial, signature, issuer, validity, subject, spki, ... */
export function tbsFields(der: Buffer): Tlv[] {
  const cert = readWhole(der, TAG.SEQUENCE);
  const fields = children(der, expectTag(children(der, cert)[0], TAG.SEQUENCE));
  return fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
}
