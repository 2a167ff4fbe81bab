import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { FakeClock } from '../../shared/clock.js';
import { createCaHierarchy, Issuer } from '../../control-plane/ca/index.js';
import { authenticatePeerCertificate, AuthError } from '../../control-plane/auth/index.js';
import { createCsr } from '../../shared/x509/csr-build.js';
import { generateWorkloadKey } from '../../shared/x509/keys.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

async function leafFrom(clock: FakeClock) {
  const ca = createCaHierarchy({ trustDomain: 'cluster.local', clock });
  const issuer = new Issuer(ca, { trustDomain: 'cluster.local', defaultTtlMs: HOUR, maxTtlMs: HOUR, clock });
  const key = generateWorkloadKey();
  const id = { trustDomain: 'cluster.local', namespace: 'foo', serviceAccount: 'httpbin' };
  const issued = await issuer.signCsrAsync(createCsr({ privateKey: key.privateKey, publicKey: key.publicKey, uri: 'spiffe://cluster.local/ns/foo/sa/httpbin' }), id);
  return { der: new X509Certificate(issued.certPem).raw, issuers: [new X509Certificate(ca.issuing.certPem)] };
}

test('a verified certificate is remembered per issuer set, but its validity is checked on every use', async (t) => {
  const clock = new FakeClock(T0);
  const a = await leafFrom(clock);
  const b = await leafFrom(clock);
  const first = authenticatePeerCertificate(a.der, a.issuers, 'cluster.local', clock);
  t.is(first.identity.serviceAccount, 'httpbin');
  t.deepEqual(authenticatePeerCertificate(a.der, a.issuers, 'cluster.local', clock), first, 'same answer from the memo');
  // Another issuer set (a CA change) verifies again: A's certificate is not from B's CA.
  t.is(t.throws(() => authenticatePeerCertificate(a.der, b.issuers, 'cluster.local', clock), { instanceOf: AuthError })?.reason, 'cert-untrusted');
  t.is(t.throws(() => authenticatePeerCertificate(a.der, a.issuers, 'other.domain', clock), { instanceOf: AuthError })?.reason, 'cert-identity');
  clock.advance(HOUR);
  t.is(t.throws(() => authenticatePeerCertificate(a.der, a.issuers, 'cluster.local', clock), { instanceOf: AuthError })?.reason, 'cert-expired', 'expiry is checked even for a remembered certificate');
});
