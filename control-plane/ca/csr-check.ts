import { ECDH, KeyObject, createPublicKey, verify, webcrypto } from 'node:crypto';
import { asError } from '../../shared/errors.js';
import { spiffeId, type WorkloadIdentity } from '../../shared/spiffe.js';
import { TAG, bitStringBytes, children, expectTag, oidString, raw, readWhole, value, type Tlv } from '../../shared/x509/der.js';
import { OID_DER } from '../../shared/x509/oids.js';
import { singlePemDer } from '../../shared/x509/pem.js';
import { parseGeneralNames } from '../../shared/x509/san.js';
import { CsrRefusedError } from './errors.js';

/** A CSR that passed every rule, reduced to what the certificate copies from it. */
export interface ApprovedCsr {
  readonly uri: string;
  readonly dnsNames: readonly string[];
  readonly keyType: 'ec' | 'rsa';
  /** The request's SubjectPublicKeyInfo byte for byte: it goes into the certificate verbatim. */
  readonly spki: Buffer;
  /** The subjectPublicKey bits, hashed into the subject key identifier. */
  readonly publicKeyBits: Buffer;
  /** The GeneralNames of the SAN extension (only the URI and DNS names, checked), copied verbatim. */
  readonly sanDer: Buffer;
}

const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];
// A workload CSR is well under 2 KiB; refuse to parse megabytes sent by a misbehaving client.
const MAX_CSR_PEM_CHARS = 64 * 1024;
const MIN_RSA_BITS = 2048;
const KEY_RULE = 'the key must be ECDSA P-256 or P-384, or RSA of at least 2048 bits';
const CURVE_NAMES: Record<string, string> = {
  '1.3.132.0.10': 'secp256k1',
  '1.2.840.10045.3.1.1': 'P-192',
  '1.3.132.0.33': 'P-224',
  '1.3.132.0.35': 'P-521',
};
// LDH labels; no wildcard: a wildcard would cover other workloads' service names.
const DNS_RE = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

interface ParsedCsr {
  der: Buffer;
  info: Buffer;
  spki: Buffer;
  keyAlg: Buffer;
  keyParams: Tlv | undefined;
  keyBits: Buffer;
  sigAlg: Buffer;
  sigParams: Tlv | undefined;
  signature: Buffer;
  extensions: { id: Buffer; value: Buffer }[];
}

/** The kind of a CSR's key once it passed the key rule: its curve, or RSA (size checked on import). */
type KeyKind = EcCurve | 'rsa';

interface EcCurve {
  readonly name: 'P-256' | 'P-384';
  readonly openssl: 'prime256v1' | 'secp384r1';
  readonly size: number;
  readonly webcrypto: webcrypto.EcKeyImportParams;
}
const P256: EcCurve = { name: 'P-256', openssl: 'prime256v1', size: 32, webcrypto: { name: 'ECDSA', namedCurve: 'P-256' } };
const P384: EcCurve = { name: 'P-384', openssl: 'secp384r1', size: 48, webcrypto: { name: 'ECDSA', namedCurve: 'P-384' } };
const VERIFY_ONLY: webcrypto.KeyUsage[] = ['verify'];

/**
 * May this CSR be signed for the workload that proved `expected`? Pure: returns what the certificate
 * copies, or throws CsrRefusedError naming the rule. The self-signature is checked before anything
 * the request says about itself is believed.
 */
export function checkCsr(csrPem: string, expected: WorkloadIdentity): ApprovedCsr {
  const csr = parsePem(csrPem);
  const kind = keyKind(csr);
  return approve(csr, kind, kind === 'rsa' ? importRsa(csr) : importEcJwk(csr, kind), expected);
}

/**
 * The same rules, importing EC keys through WebCrypto's raw-point import: it skips the full public
 * key validation (a scalar multiplication) that the JWK import runs and that a signature check does
 * not need, which makes the whole CSR path about 20% faster (loadtest/RESULTS.md). The import runs on
 * this thread; only its result arrives through a promise.
 */
export async function checkCsrAsync(csrPem: string, expected: WorkloadIdentity): Promise<ApprovedCsr> {
  const csr = parsePem(csrPem);
  const kind = keyKind(csr);
  let key: KeyObject;
  if (kind === 'rsa') key = importRsa(csr);
  else {
    try {
      key = KeyObject.from(await webcrypto.subtle.importKey('raw', uncompressedPoint(csr, kind), kind.webcrypto, true, VERIFY_ONLY));
    } catch (e) {
      throw badPoint(e);
    }
  }
  return approve(csr, kind, key, expected);
}

function parsePem(csrPem: string): ParsedCsr {
  if (csrPem.length > MAX_CSR_PEM_CHARS) throw new CsrRefusedError('malformed', `the CSR is ${csrPem.length} characters; the limit is ${MAX_CSR_PEM_CHARS}`);
  try {
    return parseCsr(singlePemDer(csrPem, CSR_LABELS));
  } catch (e) {
    throw new CsrRefusedError('malformed', `not a PEM PKCS#10 certificate request: ${asError(e).message}`, { cause: e });
  }
}

function keyKind(csr: ParsedCsr): KeyKind {
  if (csr.keyAlg.equals(OID_DER.rsaEncryption)) return 'rsa';
  if (!csr.keyAlg.equals(OID_DER.ecPublicKey)) throw new CsrRefusedError('weak-key', `${KEY_RULE}; the CSR has a key of algorithm ${dotted(csr.keyAlg)}`);
  const curveOid = csr.keyParams?.tag === TAG.OID ? raw(csr.der, csr.keyParams) : undefined;
  const curve = curveOid?.equals(OID_DER.p256) ? P256 : curveOid?.equals(OID_DER.p384) ? P384 : undefined;
  if (!curve) {
    const name = curveOid ? dotted(curveOid) : 'explicit parameters';
    throw new CsrRefusedError('weak-key', `${KEY_RULE}; the CSR has an EC key on curve ${CURVE_NAMES[name] ?? name}`);
  }
  return curve;
}

function approve(csr: ParsedCsr, kind: KeyKind, key: KeyObject, expected: WorkloadIdentity): ApprovedCsr {
  const keyType = kind === 'rsa' ? 'rsa' : 'ec';
  const hash = signatureHash(csr, keyType);
  let valid = false;
  try {
    valid = verify(hash, csr.info, key, csr.signature);
  } catch {
    // A signature that is not even a DER ECDSA-Sig-Value is just as wrong as a mismatching one.
  }
  if (!valid) throw new CsrRefusedError('bad-signature', 'the CSR is not signed by the private key of the public key it carries');
  let san: Buffer | undefined;
  for (const ext of csr.extensions) {
    if (ext.id.equals(OID_DER.subjectAltName)) san = ext.value;
    else if (ext.id.equals(OID_DER.basicConstraints) && requestsCa(ext.value)) {
      throw new CsrRefusedError('ca-requested', 'a workload certificate is never a CA; the CSR asks for basicConstraints CA:TRUE');
    } else if (ext.id.equals(OID_DER.keyUsage) && requestsCertSign(ext.value)) {
      throw new CsrRefusedError('ca-requested', 'a workload certificate is never a CA; the CSR asks for key usage keyCertSign or cRLSign');
    }
  }
  const want = spiffeId(expected);
  if (!san) throw new CsrRefusedError('san-count', `the CSR must carry exactly one URI SAN, ${want}; it has no SAN extension`);
  let names;
  try {
    names = parseGeneralNames(san);
  } catch (e) {
    throw new CsrRefusedError('malformed', `the SAN extension does not parse: ${asError(e).message}`, { cause: e });
  }
  const [uri] = names.uris;
  if (names.uris.length !== 1 || uri === undefined) {
    throw new CsrRefusedError('san-count', `the CSR must carry exactly one URI SAN, ${want}; it has ${names.uris.length}: ${JSON.stringify(names.uris)}`);
  }
  const other = [...names.ipAddresses.map((ip) => `IP ${ip}`), ...names.others];
  if (other.length) throw new CsrRefusedError('san-type', `a workload certificate names only its SPIFFE ID and DNS names; the CSR also asks for ${other.join(', ')}`);
  const badDns = names.dnsNames.find((d) => !DNS_RE.test(d));
  if (badDns !== undefined) throw new CsrRefusedError('san-type', `DNS SAN ${JSON.stringify(badDns)} is not a plain DNS name (no wildcards)`);
  if (uri !== want) throw new CsrRefusedError('identity-mismatch', `the URI SAN must be the authenticated workload's SPIFFE ID ${want}; the CSR asks for ${uri}`);

  return { uri, dnsNames: names.dnsNames, keyType, spki: csr.spki, publicKeyBits: csr.keyBits, sanDer: san };
}

function parseCsr(der: Buffer): ParsedCsr {
  const [infoT, sigAlgT, sigT, extra] = children(der, readWhole(der, TAG.SEQUENCE));
  if (extra) throw new Error('extra fields after the signature');
  const [versionT, subjectT, spkiT, attrsT] = children(der, expectTag(infoT, TAG.SEQUENCE));
  const version = value(der, expectTag(versionT, TAG.INTEGER));
  if (version.length !== 1 || version[0] !== 0) throw new Error('version is not v1 (0)');
  expectTag(subjectT, TAG.SEQUENCE);
  const [keyAlgT, keyBitsT] = children(der, expectTag(spkiT, TAG.SEQUENCE));
  const [keyAlgOid, keyParams] = children(der, expectTag(keyAlgT, TAG.SEQUENCE));
  const [sigAlgOid, sigParams] = children(der, expectTag(sigAlgT, TAG.SEQUENCE));
  const extensions: ParsedCsr['extensions'] = [];
  for (const attr of children(der, expectTag(attrsT, 0xa0))) {
    const [typeT, valuesT] = children(der, expectTag(attr, TAG.SEQUENCE));
    if (!raw(der, expectTag(typeT, TAG.OID)).equals(OID_DER.extensionRequest)) continue;
    const [exts, more] = children(der, expectTag(valuesT, TAG.SET));
    if (more || extensions.length) throw new Error('more than one extensionRequest');
    for (const ext of children(der, expectTag(exts, TAG.SEQUENCE))) {
      const [idT, second, third] = children(der, expectTag(ext, TAG.SEQUENCE));
      const idTlv = expectTag(idT, TAG.OID);
      const id = raw(der, idTlv);
      if (extensions.some((e) => e.id.equals(id))) throw new Error(`extension ${oidString(der, idTlv)} requested twice`);
      // Requested criticality is ignored: the certificate's extensions are ours.
      const v = expectTag(second?.tag === TAG.BOOLEAN ? third : second, TAG.OCTET_STRING);
      extensions.push({ id, value: value(der, v) });
    }
  }
  return {
    der,
    info: raw(der, infoT as Tlv),
    spki: raw(der, spkiT as Tlv),
    keyAlg: raw(der, expectTag(keyAlgOid, TAG.OID)),
    keyParams,
    keyBits: bitStringBytes(der, expectTag(keyBitsT, TAG.BIT_STRING)),
    sigAlg: raw(der, expectTag(sigAlgOid, TAG.OID)),
    sigParams,
    signature: bitStringBytes(der, expectTag(sigT, TAG.BIT_STRING)),
    extensions,
  };
}

type Hash = 'sha256' | 'sha384' | 'sha512';

/** An uncompressed point from the key bits (workloads send uncompressed; compressed ones are expanded). */
function uncompressedPoint(csr: ParsedCsr, curve: EcCurve): Buffer {
  let point = csr.keyBits;
  if (point.length === curve.size + 1 && (point[0] === 2 || point[0] === 3)) {
    point = ECDH.convertKey(point, curve.openssl, undefined, undefined, 'uncompressed') as Buffer;
  }
  if (point.length !== 2 * curve.size + 1 || point[0] !== 4) throw new Error(`an EC point of ${point.length} bytes`);
  return point;
}

/**
 * EC keys are imported from the point's coordinates, never as SPKI DER: OpenSSL 3 decodes an SPKI
 * through its generic decoder chain, which costs more than the signature check itself.
 */
function importEcJwk(csr: ParsedCsr, curve: EcCurve): KeyObject {
  try {
    const point = uncompressedPoint(csr, curve);
    const jwk = { kty: 'EC', crv: curve.name, x: point.toString('base64url', 1, 1 + curve.size), y: point.toString('base64url', 1 + curve.size) };
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (e) {
    throw badPoint(e);
  }
}

function badPoint(e: unknown): CsrRefusedError {
  return new CsrRefusedError('malformed', `the CSR's EC public key is not a point on its curve: ${asError(e).message}`, { cause: e });
}

function importRsa(csr: ParsedCsr): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: csr.spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw new CsrRefusedError('malformed', `the CSR's RSA public key does not parse: ${asError(e).message}`, { cause: e });
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw new CsrRefusedError('weak-key', `${KEY_RULE}; the CSR has RSA ${bits}`);
  return key;
}

const EC_SIG: readonly [Buffer, Hash][] = [
  [OID_DER.ecdsaSha256, 'sha256'],
  [OID_DER.ecdsaSha384, 'sha384'],
  [OID_DER.ecdsaSha512, 'sha512'],
];
const RSA_SIG: readonly [Buffer, Hash][] = [
  [OID_DER.rsaSha256, 'sha256'],
  [OID_DER.rsaSha384, 'sha384'],
  [OID_DER.rsaSha512, 'sha512'],
];

/** The signature algorithm must suit the key (no SHA-1, no RSA-PSS); ECDSA has no parameters, RSA NULL or none. */
function signatureHash(csr: ParsedCsr, keyType: 'ec' | 'rsa'): Hash {
  const hit = (keyType === 'ec' ? EC_SIG : RSA_SIG).find(([o]) => o.equals(csr.sigAlg));
  const paramsOk = csr.sigParams === undefined || (keyType === 'rsa' && csr.sigParams.tag === TAG.NULL);
  if (!hit || !paramsOk) {
    const accepted = keyType === 'ec' ? 'ECDSA with SHA-256/384/512' : 'RSA PKCS#1 v1.5 with SHA-256/384/512';
    throw new CsrRefusedError('bad-signature', `the CSR is signed with algorithm ${dotted(csr.sigAlg)}; a ${keyType.toUpperCase()} key must sign with ${accepted}`);
  }
  return hit[1];
}

function dotted(oidDer: Buffer): string {
  return oidString(oidDer, readWhole(oidDer, TAG.OID));
}

/** basicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
function requestsCa(v: Buffer): boolean {
  try {
    const [first] = children(v, readWhole(v, TAG.SEQUENCE));
    return first?.tag === TAG.BOOLEAN && v[first.valueStart] !== 0;
  } catch {
    // An unreadable basicConstraints is treated as a CA request: it is not signed either way.
    return true;
  }
}

/** keyUsage bit 5 keyCertSign, bit 6 cRLSign: both in the first byte (bit 0 is its MSB). */
function requestsCertSign(v: Buffer): boolean {
  try {
    const t = readWhole(v, TAG.BIT_STRING);
    const first = t.end > t.valueStart + 1 ? (v[t.valueStart + 1] as number) : 0;
    return (first & 0x06) !== 0;
  } catch {
    return true;
  }
}
