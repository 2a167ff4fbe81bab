import { X509Certificate } from 'node:crypto';
import { TAG, children, expectTag, readWhole } from './der.js';
import { OID, OID_DER } from './oids.js';
import { findExtension } from './san.js';
import { describeCert, tbsFields, type CertInfo } from './cert-info.js';
import { pemBlocks } from './pem.js';

const EKU_NAMES: Readonly<Record<string, string>> = { [OID.serverAuth]: 'serverAuth', [OID.clientAuth]: 'clientAuth' };
const KU_NAMES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];

export interface InspectedCert extends CertInfo {
  readonly position: number;
  readonly role: 'leaf' | 'intermediate' | 'root';
  /** Extended key usage by name (OIDs for unknown ones); empty when the extension is absent. */
  readonly extendedKeyUsage: string[];
  readonly keyUsage: string[];
  readonly key: string;
  readonly secondsLeft: number;
  /** Plain-words problems for mTLS; empty means fit. */
  readonly warnings: string[];
}

/**
 * Decodes a PEM chain and judges each certificate for what matters in mutual TLS: both EKUs on a leaf,
 * a SPIFFE ID, validity now, CA flags, and the chain order (each certificate issued by the next).
 */
export function inspectChain(pem: string, nowMs: number): { certs: InspectedCert[]; chainWarnings: string[] } {
  const blocks = pemBlocks(pem).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) throw new RangeError('no PEM CERTIFICATE block in the input');
  const xs = blocks.map((b) => new X509Certificate(b.der));
  const certs = xs.map((x, i) => inspectOne(x, i, xs.length, nowMs));
  const chainWarnings: string[] = [];
  for (let i = 0; i + 1 < xs.length; i++) {
    const child = xs[i] as X509Certificate;
    const parent = xs[i + 1] as X509Certificate;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      chainWarnings.push(`chain order: certificate ${i + 1} is not signed by certificate ${i + 2} (a chain lists the leaf first, then each issuer)`);
    }
  }
  return { certs, chainWarnings };
}

function inspectOne(x: X509Certificate, i: number, total: number, nowMs: number): InspectedCert {
  const info = describeCert(x);
  const selfSigned = x.checkIssued(x) && x.verify(x.publicKey);
  const role = i === 0 && !info.isCa ? 'leaf' : selfSigned ? 'root' : i === 0 ? 'leaf' : 'intermediate';
  const eku = (x.keyUsage ?? []).map((o) => EKU_NAMES[o] ?? o);
  const ku = keyUsageBits(x.raw);
  const warnings: string[] = [];
  if (nowMs >= info.notAfterMs) warnings.push(`expired at ${new Date(info.notAfterMs).toISOString()}`);
  if (nowMs < info.notBeforeMs) warnings.push(`not yet valid: valid from ${new Date(info.notBeforeMs).toISOString()} (clock skew?)`);
  if (role === 'leaf') {
    if (info.isCa) warnings.push('a CA certificate used as a leaf');
    const server = eku.includes('serverAuth');
    const client = eku.includes('clientAuth');
    if (eku.length > 0 && server && !client) warnings.push('serverAuth only: it cannot act as an mTLS client (needs clientAuth too)');
    if (eku.length > 0 && client && !server) warnings.push('clientAuth only: it cannot act as an mTLS server (needs serverAuth too)');
    if (eku.length > 0 && !server && !client) warnings.push('no TLS extended key usage: neither serverAuth nor clientAuth');
    if (!info.spiffeId) {
      warnings.push(info.uriSans.length > 1 ? `not a SPIFFE SVID: ${info.uriSans.length} URI SANs (want exactly one)` : 'not a SPIFFE SVID: no spiffe:// URI SAN');
    }
    if (ku.length > 0 && !ku.includes('digitalSignature')) warnings.push('key usage lacks digitalSignature: TLS 1.3 handshakes will fail');
  } else if (!info.isCa) {
    warnings.push(`certificate ${i + 1} of ${total} is not a CA but is used as an issuer`);
  } else if (ku.length > 0 && !ku.includes('keyCertSign')) {
    warnings.push('a CA without keyCertSign: it may not sign certificates');
  }
  const key = x.publicKey.asymmetricKeyType === 'ec' ? `EC ${String(x.publicKey.asymmetricKeyDetails?.namedCurve ?? '?')}` : `${x.publicKey.asymmetricKeyType ?? '?'} ${String(x.publicKey.asymmetricKeyDetails?.modulusLength ?? '')}`.trim();
  if (x.publicKey.asymmetricKeyType === 'rsa' && (x.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) warnings.push('RSA key shorter than 2048 bits');
  return { ...info, position: i + 1, role, extendedKeyUsage: eku, keyUsage: ku, key, secondsLeft: Math.floor((info.notAfterMs - nowMs) / 1000), warnings };
}

function keyUsageBits(der: Buffer): string[] {
  const exts = tbsFields(der).find((t) => t.tag === 0xa3);
  if (!exts) return [];
  const ext = findExtension(der, expectTag(children(der, exts)[0], TAG.SEQUENCE), OID_DER.keyUsage);
  if (!ext) return [];
  // Key usage is a named bit list: DER drops trailing zero bits, so unused bits are normal here.
  const t = readWhole(ext.value, TAG.BIT_STRING);
  const bits = ext.value.subarray(t.valueStart + 1, t.end);
  return KU_NAMES.filter((_, n) => ((bits[n >> 3] ?? 0) & (0x80 >> (n & 7))) !== 0);
}
