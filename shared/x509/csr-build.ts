import { sign, type KeyObject } from 'node:crypto';
import { boolean, bitString, explicit, octetString, oid, seq, set, smallInteger, utf8String, derNull } from './der.js';
import { OID, OID_DER } from './oids.js';
import { derToPem } from './pem.js';
import { encodeGeneralNames } from './san.js';

export interface CsrExtension {
  readonly oid: string;
  readonly critical?: boolean;
  /** The DER that goes inside extnValue's OCTET STRING. */
  readonly valueDer: Uint8Array;
}

export interface CsrOptions {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The workload's SPIFFE ID. */
  readonly uri?: string;
  /** All URI SANs, overriding `uri` (tests craft CSRs with none or several). */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly subjectCN?: string;
  /** Ask for basicConstraints CA:TRUE (a CSR the control plane must refuse). */
  readonly requestCa?: boolean;
  readonly extraExtensions?: readonly CsrExtension[];
  /** Flip a bit of the signature after signing (a CSR the control plane must refuse). */
  readonly tamperSignature?: boolean;
}

/** A PKCS#10 certificate request (RFC 2986) in PEM, with its SANs in an extensionRequest, signed natively. */
export function createCsr(o: CsrOptions): string {
  const { hash, algId } = signatureAlgorithm(o.publicKey);
  const subject = o.subjectCN === undefined ? seq() : seq(set(seq(OID_DER.commonName, utf8String(o.subjectCN))));
  const uris = o.uris ?? (o.uri === undefined ? [] : [o.uri]);
  const exts: Buffer[] = [];
  if (uris.length || o.dnsNames?.length || o.ipAddresses?.length) {
    exts.push(extension(OID.subjectAltName, false, encodeGeneralNames({ uris, dnsNames: o.dnsNames, ipAddresses: o.ipAddresses })));
  }
  if (o.requestCa) exts.push(extension(OID.basicConstraints, true, seq(boolean(true))));
  for (const e of o.extraExtensions ?? []) exts.push(extension(e.oid, e.critical ?? false, e.valueDer));
  const attributes = exts.length ? explicit(0, seq(OID_DER.extensionRequest, set(seq(...exts)))) : explicit(0);
  const spki = o.publicKey.export({ type: 'spki', format: 'der' });
  const info = seq(smallInteger(0), subject, spki, attributes);
  const signature = sign(hash, info, o.privateKey);
  if (o.tamperSignature) signature.writeUInt8(signature.readUInt8(signature.length - 1) ^ 0x01, signature.length - 1);
  return derToPem(seq(info, algId, bitString(signature)), 'CERTIFICATE REQUEST');
}

function extension(id: string, critical: boolean, valueDer: Uint8Array): Buffer {
  return critical ? seq(oid(id), boolean(true), octetString(valueDer)) : seq(oid(id), octetString(valueDer));
}

function signatureAlgorithm(key: KeyObject): { hash: string; algId: Buffer } {
  if (key.asymmetricKeyType === 'rsa') return { hash: 'sha256', algId: seq(OID_DER.rsaSha256, derNull()) };
  if (key.asymmetricKeyType === 'ec') {
    return key.asymmetricKeyDetails?.namedCurve === 'secp384r1'
      ? { hash: 'sha384', algId: seq(OID_DER.ecdsaSha384) }
      : { hash: 'sha256', algId: seq(OID_DER.ecdsaSha256) };
  }
  throw new RangeError(`createCsr: unsupported key type ${key.asymmetricKeyType}`);
}
