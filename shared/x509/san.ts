import { isIP } from 'node:net';
import { DerError, TAG, children, expectTag, readWhole, seq, tlv, value, type Tlv } from './der.js';

/** GeneralName tags ([n] IMPLICIT, RFC 5280 4.2.1.6) that the mesh reads. */
const GN_EMAIL = 0x81;
const GN_DNS = 0x82;
const GN_URI = 0x86;
const GN_IP = 0x87;

export interface SubjectAltNames {
  readonly uris: string[];
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  /** Any other kind of name (email, otherName, directoryName, ...), by description. */
  readonly others: string[];
}

/** Parses the GeneralNames SEQUENCE held in a subjectAltName extension's value. */
export function parseGeneralNames(der: Buffer): SubjectAltNames {
  const names: SubjectAltNames = { uris: [], dnsNames: [], ipAddresses: [], others: [] };
  const outer = readWhole(der, TAG.SEQUENCE);
  for (const gn of children(der, outer)) {
    const v = value(der, gn);
    if (gn.tag === GN_URI) names.uris.push(ia5(v));
    else if (gn.tag === GN_DNS) names.dnsNames.push(ia5(v));
    else if (gn.tag === GN_IP) names.ipAddresses.push(formatIp(v));
    else if (gn.tag === GN_EMAIL) names.others.push(`email:${ia5(v)}`);
    else names.others.push(`GeneralName [${gn.tag & 0x1f}]`);
  }
  return names;
}

export function encodeGeneralNames(n: { uris?: readonly string[]; dnsNames?: readonly string[]; ipAddresses?: readonly string[] }): Buffer {
  const parts: Buffer[] = [];
  for (const u of n.uris ?? []) parts.push(tlv(GN_URI, [Buffer.from(u, 'latin1')]));
  for (const d of n.dnsNames ?? []) parts.push(tlv(GN_DNS, [Buffer.from(d, 'latin1')]));
  for (const ip of n.ipAddresses ?? []) parts.push(tlv(GN_IP, [parseIp(ip)]));
  return seq(...parts);
}

/** The value of the extension `oid` in an Extensions SEQUENCE, or undefined. */
export function findExtension(buf: Buffer, extensions: Tlv, oidDer: Buffer): { critical: boolean; value: Buffer } | undefined {
  for (const ext of children(buf, extensions)) {
    const [id, second, third] = children(buf, expectTag(ext, TAG.SEQUENCE));
    if (!id || !buf.subarray(id.start, id.end).equals(oidDer)) continue;
    const critical = second?.tag === TAG.BOOLEAN && buf[second.valueStart] !== 0;
    const v = expectTag(second?.tag === TAG.BOOLEAN ? third : second, TAG.OCTET_STRING);
    return { critical, value: value(buf, v) };
  }
  return undefined;
}

function ia5(v: Buffer): string {
  for (const b of v) if (b > 0x7e || b < 0x20) throw new DerError('a SAN holds characters outside printable IA5');
  return v.toString('latin1');
}

function formatIp(v: Buffer): string {
  if (v.length === 4) return Array.from(v).join('.');
  if (v.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(v.readUInt16BE(i).toString(16));
    // The URL parser prints IPv6 in its canonical compressed form.
    return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
  }
  throw new DerError(`an IP SAN of ${v.length} bytes (want 4 or 16)`);
}

function parseIp(ip: string): Buffer {
  const kind = isIP(ip);
  if (kind === 4) return Buffer.from(ip.split('.').map(Number));
  if (kind === 6) {
    const full = new URL(`http://[${ip}]`).hostname.slice(1, -1);
    const [head = '', tail = ''] = full.split('::');
    const h = head ? head.split(':') : [];
    const t = full.includes('::') && tail ? tail.split(':') : [];
    const groups = full.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
  }
  throw new RangeError(`not an IP address: ${ip}`);
}
