import { X509Certificate, createHash } from 'node:crypto';
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
  // Every proxy opens three streams with the same certificate: its chain and identity are checked once per
  // issuer set (a CA change brings a new array, so nothing verified under the old one is reused); the
  // validity window is checked every time.
  let memo = VERIFIED.get(issuers);
  if (!memo) {
    memo = new Map();
    VERIFIED.set(issuers, memo);
  }
  const key = `${trustDomain}\n${createHash('sha256').update(der).digest('base64')}`;
  const hit = memo.get(key);
  if (hit) {
    checkWindow(hit.notBeforeMs, hit.notAfterMs, clock.now());
    return { identity: hit.identity, notAfterMs: hit.notAfterMs };
  }
  const verified = verifyPeerCertificate(der, issuers, trustDomain, clock);
  memo.set(key, verified);
  if (memo.size > MAX_VERIFIED) memo.delete(memo.keys().next().value ?? '');
  return { identity: verified.identity, notAfterMs: verified.notAfterMs };
}

interface Verified {
  readonly identity: WorkloadIdentity;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** Certificates verified per issuer set (a fleet's worth; the oldest are forgotten first). */
const MAX_VERIFIED = 20_000;
const VERIFIED = new WeakMap<readonly X509Certificate[], Map<string, Verified>>();

function checkWindow(notBeforeMs: number, notAfterMs: number, now: number): void {
  if (now >= notAfterMs) {
    throw new AuthError('cert-expired', `the client certificate expired at ${new Date(notAfterMs).toISOString()}; the proxy must bootstrap again with a token`);
  }
  if (now < notBeforeMs) {
    throw new AuthError('cert-untrusted', `the client certificate is not valid before ${new Date(notBeforeMs).toISOString()}`);
  }
}

function verifyPeerCertificate(der: Buffer, issuers: readonly X509Certificate[], trustDomain: string, clock: Clock): Verified {
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
  checkWindow(info.notBeforeMs, info.notAfterMs, clock.now());
  const ids = info.uriSans.map(parseSpiffeId);
  const id = ids.length === 1 ? ids[0] : undefined;
  if (!id || id.trustDomain !== trustDomain) {
    throw new AuthError('cert-identity', `the client certificate must carry exactly one SPIFFE ID of trust domain ${trustDomain}, has ${JSON.stringify(info.uriSans)}`);
  }
  return { identity: id, notBeforeMs: info.notBeforeMs, notAfterMs: info.notAfterMs };
}
