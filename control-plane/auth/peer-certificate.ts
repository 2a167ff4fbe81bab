import { X509Certificate } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { parseSpiffeId, type WorkloadIdentity } from '../../shared/spiffe.js';
import { describeCert } from '../../shared/x509/cert-info.js';
import { AuthError } from './errors.js';

/**
 * Renewals authenticate with the workload's current certificate: it must have been issued by one of
 * our issuing CAs, be within its validity window now, and name exactly one workload SPIFFE ID of our
 * trust domain. The TLS layer accepted it without verification (bootstrap clients have none), so
 * every check happens here.
 */
export function authenticatePeerCertificate(
  der: Buffer,
  issuers: readonly X509Certificate[],
  trustDomain: string,
  clock: Clock,
): { identity: WorkloadIdentity; notAfterMs: number } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw new AuthError('cert-untrusted', 'the client certificate does not parse');
  }
  const issuer = issuers.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!issuer) {
    throw new AuthError('cert-untrusted', `the client certificate (issuer ${cert.issuer.replace(/\n/g, ', ')}) was not issued by this control plane's CA`);
  }
  const info = describeCert(cert.raw);
  const now = clock.now();
  if (now >= info.notAfterMs) {
    throw new AuthError('cert-expired', `the client certificate expired at ${new Date(info.notAfterMs).toISOString()}; the proxy must bootstrap again with a token`);
  }
  if (now < info.notBeforeMs) {
    throw new AuthError('cert-untrusted', `the client certificate is not valid before ${new Date(info.notBeforeMs).toISOString()}`);
  }
  const ids = info.uriSans.map(parseSpiffeId);
  const id = ids.length === 1 ? ids[0] : undefined;
  if (!id || id.trustDomain !== trustDomain) {
    throw new AuthError('cert-identity', `the client certificate must carry exactly one SPIFFE ID of trust domain ${trustDomain}, has ${JSON.stringify(info.uriSans)}`);
  }
  return { identity: id, notAfterMs: info.notAfterMs };
}
