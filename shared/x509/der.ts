import forge from 'node-forge';
import { MeshError } from '../errors.js';

/**
 * A minimal strict DER reader and writer over Buffers. Signing and verifying need the exact bytes of
 * the signed structure, and copying a CSR's SubjectPublicKeyInfo into a certificate verbatim needs
 * offsets: forge's node tree keeps neither and works on binary strings, so the hot path reads DER
 * here and leaves forge the OID conversions.
 */
export class DerError extends MeshError {
  readonly code = 'MESH_ERR_X509_MALFORMED';
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One TLV inside `buf`: tag byte, and the value at [valueStart, end). */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly valueStart: number;
  readonly end: number;
}

/** Reads the TLV at `pos`, which must end at or before `limit`. Only low tag numbers and minimal lengths (DER). */
export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated DER: no room for a tag and a length');
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high-tag-number form is not used in X.509');
  let len = buf[pos + 1] as number;
  let valueStart = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('indefinite or oversized DER length');
    if (valueStart + n > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[valueStart + i] as number);
    if (len < 0x80 || (buf[valueStart] as number) === 0) throw new DerError('non-minimal DER length');
    valueStart += n;
  }
  const end = valueStart + len;
  if (end > limit) throw new DerError('truncated DER: value runs past its container');
  return { tag, start: pos, valueStart, end };
}

/** The children of a constructed TLV, which must fill it exactly. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.valueStart; pos < parent.end; ) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** Reads the single TLV that must fill `buf` exactly, with the expected tag. */
export function readWhole(buf: Uint8Array, tag: number): Tlv {
  const t = readTlv(buf, 0, buf.length);
  if (t.end !== buf.length) throw new DerError('trailing bytes after the DER structure');
  return expectTag(t, tag);
}

export function expectTag(t: Tlv | undefined, tag: number): Tlv {
  if (!t) throw new DerError(`missing DER element with tag 0x${tag.toString(16)}`);
  if (t.tag !== tag) throw new DerError(`DER tag 0x${t.tag.toString(16)} where 0x${tag.toString(16)} was expected`);
  return t;
}

export function value(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.valueStart, t.end);
}
export function raw(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.start, t.end);
}

/** The bits of a BIT STRING, which must have no unused bits (keys, signatures and extensions are whole bytes). */
export function bitStringBytes(buf: Buffer, t: Tlv): Buffer {
  expectTag(t, TAG.BIT_STRING);
  if (t.end === t.valueStart || buf[t.valueStart] !== 0) throw new DerError('BIT STRING with unused bits');
  return buf.subarray(t.valueStart + 1, t.end);
}

/** Dotted form of an OID value; for messages and slow paths (the hot path compares bytes). */
export function oidString(buf: Buffer, t: Tlv): string {
  expectTag(t, TAG.OID);
  return forge.asn1.derToOid(value(buf, t).toString('binary'));
}

/** The magnitude of an INTEGER as lowercase hex without leading zero bytes ('' for zero). */
export function integerHex(buf: Buffer, t: Tlv): string {
  expectTag(t, TAG.INTEGER);
  let i = t.valueStart;
  while (i < t.end - 1 && buf[i] === 0) i++;
  const hex = buf.subarray(i, t.end).toString('hex');
  return hex === '00' ? '' : hex;
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as ms since the epoch. */
export function readTime(buf: Buffer, t: Tlv): number {
  const s = value(buf, t).toString('latin1');
  const m =
    t.tag === TAG.UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    : t.tag === TAG.GENERALIZED_TIME ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    : null;
  if (!m) throw new DerError(`not an X.509 time: ${JSON.stringify(s)}`);
  const [, y = '', mo = '', d = '', h = '', mi = '', se = ''] = m;
  let year = Number(y);
  // RFC 5280 4.1.2.5.1: two-digit years 50..99 are 19xx.
  if (t.tag === TAG.UTC_TIME) year += year >= 50 ? 1900 : 2000;
  return Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
}

// ---- writer ----

export function tlv(tag: number, parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const hl = len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : 5;
  const out = Buffer.allocUnsafe(hl + len);
  out[0] = tag;
  if (hl === 2) out[1] = len;
  else {
    out[1] = 0x80 | (hl - 2);
    for (let i = hl - 1, n = len; i >= 2; i--, n >>>= 8) out[i] = n & 0xff;
  }
  let pos = hl;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(TAG.SEQUENCE, parts);
export const set = (...parts: Uint8Array[]): Buffer => tlv(TAG.SET, parts);
export const octetString = (b: Uint8Array): Buffer => tlv(TAG.OCTET_STRING, [b]);
export const bitString = (b: Uint8Array): Buffer => tlv(TAG.BIT_STRING, [Buffer.of(0), b]);
export const utf8String = (s: string): Buffer => tlv(TAG.UTF8_STRING, [Buffer.from(s, 'utf8')]);
export const ia5String = (s: string): Buffer => tlv(TAG.IA5_STRING, [Buffer.from(s, 'latin1')]);
export const boolean = (v: boolean): Buffer => Buffer.of(TAG.BOOLEAN, 1, v ? 0xff : 0);
export const derNull = (): Buffer => Buffer.of(TAG.NULL, 0);
/** [n] EXPLICIT, or the constructed form of [n] IMPLICIT SEQUENCE/SET. */
export const explicit = (n: number, ...parts: Uint8Array[]): Buffer => tlv(0xa0 | n, parts);

export function oid(dotted: string): Buffer {
  return tlv(TAG.OID, [Buffer.from(forge.asn1.oidToDer(dotted).getBytes(), 'binary')]);
}

/** INTEGER from an unsigned big-endian magnitude, minimally encoded. */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  return (m[0] as number) & 0x80 ? tlv(TAG.INTEGER, [Buffer.of(0), m]) : tlv(TAG.INTEGER, [m]);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`smallInteger: ${n}`);
  const bytes: number[] = [];
  for (let v = n; ; v = Math.floor(v / 256)) {
    bytes.unshift(v & 0xff);
    if (v < 256) break;
  }
  return unsignedInteger(Uint8Array.from(bytes));
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
export function time(ms: number): Buffer {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const rest = `${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}Z`;
  return y >= 1950 && y < 2050
    ? tlv(TAG.UTC_TIME, [Buffer.from(pad2(y % 100) + rest, 'latin1')])
    : tlv(TAG.GENERALIZED_TIME, [Buffer.from(String(y).padStart(4, '0') + rest, 'latin1')]);
}
