// IP addresses and CIDR blocks for ipBlocks / source.ip. Everything lives in one 128-bit space: an IPv4
// address a.b.c.d is ::ffff:a.b.c.d, so `10.0.0.0/8` and `::ffff:10.0.0.0/104` are the same block and a
// dual-stack socket's `::ffff:10.1.2.3` peer matches `10.0.0.0/8`. `::/0` matches every address.

export interface Cidr {
  readonly bits: bigint;
  readonly prefix: number;
}

const V4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const V4_MAPPED_PREFIX = 0xffffn << 32n;

function parseV4(s: string): bigint | undefined {
  const m = V4.exec(s);
  if (!m) return undefined;
  let n = 0n;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    n = (n << 8n) | BigInt(octet);
  }
  return n;
}

function parseHextets(part: string): number[] | undefined {
  if (part === '') return [];
  const out: number[] = [];
  for (const h of part.split(':')) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(h)) return undefined;
    out.push(parseInt(h, 16));
  }
  return out;
}

function parseV6(s: string): bigint | undefined {
  let text = s;
  let tail: number[] = [];
  // An embedded IPv4 tail (::ffff:10.0.0.1, 64:ff9b::1.2.3.4) counts as two hextets.
  const lastColon = text.lastIndexOf(':');
  if (lastColon !== -1 && text.slice(lastColon + 1).includes('.')) {
    const v4 = parseV4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const dbl = text.indexOf('::');
  let groups: number[];
  if (dbl !== -1) {
    if (text.indexOf('::', dbl + 1) !== -1) return undefined;
    const head = parseHextets(text.slice(0, dbl));
    const rest = parseHextets(text.slice(dbl + 2));
    if (!head || !rest) return undefined;
    const fill = 8 - head.length - rest.length - tail.length;
    if (fill < 1) return undefined;
    groups = [...head, ...(new Array<number>(fill).fill(0)), ...rest, ...tail];
  } else {
    const all = parseHextets(text);
    if (!all) return undefined;
    groups = [...all, ...tail];
  }
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** An address in the 128-bit space, or undefined. A zone (`fe80::1%eth0`) is dropped. */
export function parseIp(raw: string, allowZone = false): bigint | undefined {
  const v4 = parseV4(raw);
  if (v4 !== undefined) return V4_MAPPED_PREFIX | v4;
  if (!raw.includes(':')) return undefined;
  const pct = raw.indexOf('%');
  if (pct !== -1 && !allowZone) return undefined;
  return parseV6(pct === -1 ? raw : raw.slice(0, pct));
}

/** `addr` or `addr/prefix` (IPv4 or IPv6); host bits are masked off, as Envoy does. */
export function parseCidr(raw: string): Cidr | undefined {
  const slash = raw.indexOf('/');
  const addr = slash === -1 ? raw : raw.slice(0, slash);
  const isV4 = parseV4(addr) !== undefined;
  const bits = parseIp(addr);
  if (bits === undefined) return undefined;
  const max = isV4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = raw.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > max) return undefined;
    prefix = Number(p);
  }
  const prefix128 = isV4 ? prefix + 96 : prefix;
  return { bits: mask(bits, prefix128), prefix: prefix128 };
}

function mask(bits: bigint, prefix: number): bigint {
  if (prefix === 0) return 0n;
  const shift = BigInt(128 - prefix);
  return (bits >> shift) << shift;
}

export function inCidr(ip: bigint, block: Cidr): boolean {
  return mask(ip, block.prefix) === block.bits;
}
