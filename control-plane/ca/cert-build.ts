import { hash, randomFillSync, sign, type KeyObject } from 'node:crypto';
import {
  TAG,
  bitString,
  bitStringBytes,
  boolean,
  children,
  derNull,
  explicit,
  octetString,
  readWhole,
  seq,
  set,
  smallInteger,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from '../../shared/x509/der.js';
import { OID_DER } from '../../shared/x509/oids.js';
import { CaMaterialError } from './errors.js';

/** A CA key with the signature algorithm it signs certificates with. */
export interface CaSigner {
  readonly key: KeyObject;
  readonly hash: 'sha256' | 'sha384';
  /** AlgorithmIdentifier DER, in the TBSCertificate and after it. */
  readonly algId: Buffer;
}

export function caSigner(key: KeyObject, label: string): CaSigner {
  if (key.type !== 'private') throw new CaMaterialError(label, 'is not a private key');
  if (key.asymmetricKeyType === 'rsa') return { key, hash: 'sha256', algId: seq(OID_DER.rsaSha256, derNull()) };
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { key, hash: 'sha256', algId: seq(OID_DER.ecdsaSha256) };
    if (curve === 'secp384r1') return { key, hash: 'sha384', algId: seq(OID_DER.ecdsaSha384) };
  }
  throw new CaMaterialError(label, `a CA key must be ECDSA P-256/P-384 or RSA; this one is ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim());
}

export const VERSION_V3 = explicit(0, smallInteger(2));

export interface TbsParts {
  readonly serial: Buffer;
  readonly signer: CaSigner;
  readonly issuer: Buffer;
  /** See `validity`. */
  readonly validity: Buffer;
  readonly subject: Buffer;
  readonly spki: Buffer;
  readonly extensions: readonly Buffer[];
}

export function tbsCertificate(p: TbsParts): Buffer {
  return seq(
    VERSION_V3,
    p.serial,
    p.signer.algId,
    p.issuer,
    p.validity,
    p.subject,
    p.spki,
    explicit(3, tlv(TAG.SEQUENCE, p.extensions)),
  );
}

export function validity(notBeforeMs: number, notAfterMs: number): Buffer {
  return seq(time(notBeforeMs), time(notAfterMs));
}

/** Certificate DER: the TBS signed natively. */
export function signCertificate(tbs: Buffer, signer: CaSigner): Buffer {
  return seq(tbs, signer.algId, bitString(sign(signer.hash, tbs, signer.key)));
}

/** Subject or issuer with an organization (the trust domain) and an optional common name. */
export function distinguishedName(organization: string, commonName?: string): Buffer {
  const o = set(seq(OID_DER.organization, utf8String(organization)));
  return commonName === undefined ? seq(o) : seq(o, set(seq(OID_DER.commonName, utf8String(commonName))));
}

const SERIAL_BYTES = 16;
let pool = Buffer.alloc(0);
let poolPos = 0;

/** A positive, non-zero 128-bit random serial as INTEGER DER (random bytes are drawn in batches: one syscall per 256 certificates). */
export function randomSerial(): Buffer {
  for (;;) {
    if (poolPos + SERIAL_BYTES > pool.length) {
      pool = randomFillSync(Buffer.allocUnsafe(SERIAL_BYTES * 256));
      poolPos = 0;
    }
    const bytes = pool.subarray(poolPos, (poolPos += SERIAL_BYTES));
    bytes[0] = (bytes[0] as number) & 0x7f;
    if (bytes.some((b) => b !== 0)) return unsignedInteger(bytes);
  }
}

export function extension(oidDer: Buffer, critical: boolean, valueDer: Uint8Array): Buffer {
  return critical ? seq(oidDer, boolean(true), octetString(valueDer)) : seq(oidDer, octetString(valueDer));
}

export function basicConstraintsExt(ca: boolean, pathLen?: number): Buffer {
  const v = ca ? (pathLen === undefined ? seq(boolean(true)) : seq(boolean(true), smallInteger(pathLen))) : seq();
  return extension(OID_DER.basicConstraints, true, v);
}

export const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/** keyUsage, critical; a DER named-bit BIT STRING drops trailing zero bits. */
export function keyUsageExt(bits: readonly number[]): Buffer {
  let v = 0;
  for (const b of bits) v |= 0x80 >> b;
  let unused = 0;
  while (unused < 7 && !(v & (1 << unused))) unused++;
  return extension(OID_DER.keyUsage, true, tlv(TAG.BIT_STRING, [Buffer.of(unused, v)]));
}

export const EKU_SERVER_CLIENT = extension(OID_DER.extKeyUsage, false, seq(OID_DER.serverAuth, OID_DER.clientAuth));

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(publicKeyBits: Uint8Array): Buffer {
  return hash('sha1', publicKeyBits, 'buffer');
}

export const subjectKeyIdExt = (keyId: Buffer): Buffer => extension(OID_DER.subjectKeyIdentifier, false, octetString(keyId));
export const authorityKeyIdExt = (keyId: Buffer): Buffer => extension(OID_DER.authorityKeyIdentifier, false, seq(tlv(0x80, [keyId])));

/** The subjectPublicKey bits of an SPKI. */
export function spkiKeyBits(spki: Buffer): Buffer {
  const [, bits] = children(spki, readWhole(spki, TAG.SEQUENCE));
  if (!bits) throw new RangeError('SubjectPublicKeyInfo without a key');
  return bitStringBytes(spki, bits);
}
