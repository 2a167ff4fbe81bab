import { DerError } from './der.js';

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const LABEL_RE = /^[A-Z0-9 ]+$/;
// Buffer's base64 decoder skips anything it does not know, so a damaged body would decode to
// plausible bytes: check the alphabet first.
const BODY_RE = /^[A-Za-z0-9+/=\s]*$/;

/** Every PEM block of a bundle, in order; text between blocks is ignored (RFC 7468 allows it). */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (let pos = 0; ; ) {
    const begin = text.indexOf('-----BEGIN ', pos);
    if (begin < 0) return out;
    const labelEnd = text.indexOf('-----', begin + 11);
    const label = labelEnd < 0 ? '' : text.slice(begin + 11, labelEnd);
    if (!LABEL_RE.test(label)) throw new DerError('a PEM BEGIN line is malformed');
    const endLine = `-----END ${label}-----`;
    const end = text.indexOf(endLine, labelEnd + 5);
    if (end < 0) throw new DerError(`PEM block ${label} has no END line (truncated?)`);
    const body = text.slice(labelEnd + 5, end);
    if (!BODY_RE.test(body)) throw new DerError(`PEM block ${label} has characters outside base64`);
    const der = Buffer.from(body, 'base64');
    if (der.length === 0) throw new DerError(`PEM block ${label} is empty`);
    out.push({ label, der });
    pos = end + endLine.length;
  }
}

/** The DER of every block with this label (e.g. all CERTIFICATEs of a chain), in order. */
export function pemToDer(text: string, label: string): Buffer[] {
  return pemBlocks(text).filter((b) => b.label === label).map((b) => b.der);
}

/** The DER of the only PEM block in `text`, whose label must be one of `labels`. */
export function singlePemDer(text: string, labels: readonly string[]): Buffer {
  const blocks = pemBlocks(text);
  const [first] = blocks;
  if (!first) throw new DerError(`no PEM block (want ${labels.join(' or ')})`);
  if (blocks.length > 1) throw new DerError(`${blocks.length} PEM blocks where one was expected`);
  if (!labels.includes(first.label)) throw new DerError(`PEM block is ${first.label}, want ${labels.join(' or ')}`);
  return first.der;
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
