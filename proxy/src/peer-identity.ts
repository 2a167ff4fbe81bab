import type { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { parseSpiffeId } from '../../shared/spiffe.js';

/**
 * Splits Node's subjectaltname text ("DNS:a, URI:spiffe://…") into [type, value] pairs. Since Node 17 a value
 * with a comma, quote or other special character is written as a JSON string, so a crafted SAN cannot inject
 * a second entry.
 */
export function parseSubjectAltNames(text: string | undefined): [type: string, value: string][] {
  const out: [string, string][] = [];
  if (!text) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      // A JSON string: find its closing quote, honouring escapes.
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        return out;
      }
      next = j + 1;
    } else {
      const comma = text.indexOf(', ', colon + 1);
      next = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, next);
    }
    out.push([type, value]);
    i = next;
    if (text.startsWith(', ', i)) i += 2;
  }
  return out;
}

export type PeerIdResult = { readonly ok: true; readonly spiffeId: string } | { readonly ok: false; readonly detail: string };

/**
 * The SPIFFE ID of an X.509-SVID: exactly one URI SAN, and it must be a workload SPIFFE ID.
 * Several URI SANs are refused: which one would be the identity is ambiguous.
 */
export function spiffeIdOfSans(subjectAltName: string | undefined): PeerIdResult {
  const uris = parseSubjectAltNames(subjectAltName).filter(([t]) => t === 'URI');
  if (uris.length === 0) return { ok: false, detail: 'certificate has no URI SAN' };
  if (uris.length > 1) return { ok: false, detail: `certificate has ${uris.length} URI SANs, an SVID has exactly one` };
  const uri = (uris[0] as [string, string])[1];
  if (!parseSpiffeId(uri)) return { ok: false, detail: `URI SAN ${JSON.stringify(uri)} is not a workload SPIFFE ID` };
  return { ok: true, spiffeId: uri };
}

export function spiffeIdOfCertificate(cert: X509Certificate | PeerCertificate | undefined): PeerIdResult {
  if (!cert) return { ok: false, detail: 'peer presented no certificate' };
  const san = 'subjectAltName' in cert ? cert.subjectAltName : cert.subjectaltname;
  return spiffeIdOfSans(san);
}
