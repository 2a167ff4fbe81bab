import test from 'ava';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { FakeClock } from '../../shared/clock.js';
import { ConfigInvalidError } from '../../shared/errors.js';
import { spiffeId, type WorkloadIdentity } from '../../shared/spiffe.js';
import { createCsr } from '../../shared/x509/csr-build.js';
import { generateWorkloadKey } from '../../shared/x509/keys.js';
import { describeCert, tbsFields } from '../../shared/x509/cert-info.js';
import { TAG, children, expectTag, value } from '../../shared/x509/der.js';
import { OID_DER } from '../../shared/x509/oids.js';
import { findExtension } from '../../shared/x509/san.js';
import {
  BACKDATE_MS,
  CaMaterialError,
  CsrRefusedError,
  Issuer,
  caLevels,
  createCaHierarchy,
  validateCaMaterial,
  type CaMaterial,
} from '../../control-plane/ca/index.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const T0 = Date.parse('2026-03-01T00:00:00Z');
const ID: WorkloadIdentity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart' };

function setup(issuingTtlMs = 365 * DAY_MS): { clock: FakeClock; ca: CaMaterial; issuer: Issuer } {
  const clock = new FakeClock(T0);
  const ca = createCaHierarchy({ trustDomain: 'cluster.local', clock, issuingTtlMs });
  return { clock, ca, issuer: new Issuer(ca, { trustDomain: 'cluster.local', defaultTtlMs: DAY_MS, maxTtlMs: 7 * DAY_MS, clock }) };
}
const key = generateWorkloadKey();
const csr = (dnsNames: string[] = []): string => createCsr({ ...key, uri: spiffeId(ID), dnsNames });

function extensionOf(cert: X509Certificate, oid: Buffer): { critical: boolean; value: Buffer } | undefined {
  const der = cert.raw;
  const exts = tbsFields(der).find((f) => f.tag === 0xa3);
  return exts ? findExtension(der, expectTag(children(der, exts)[0], TAG.SEQUENCE), oid) : undefined;
}

test('the leaf is an X.509-SVID signed by the issuing CA', async (t) => {
  const { ca, issuer } = setup();
  const issued = await issuer.signCsrAsync(csr(['cart.shop.svc']), ID);
  const leaf = new X509Certificate(issued.certPem);
  const issuing = new X509Certificate(ca.issuing.certPem);
  t.true(leaf.verify(issuing.publicKey));
  t.true(leaf.checkIssued(issuing));
  t.false(leaf.ca);
  t.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'EKU serverAuth + clientAuth (Node calls EKU keyUsage)');
  t.is(leaf.subjectAltName, `URI:${spiffeId(ID)}, DNS:cart.shop.svc`);
  t.is(leaf.subject, 'O=cluster.local');
  t.is(leaf.issuer, issuing.subject);
  t.true(leaf.publicKey.equals(key.publicKey));
  t.deepEqual(issued.chainPem, [issued.certPem, ca.issuing.certPem], 'leaf then issuing CA, no root');

  const bc = extensionOf(leaf, OID_DER.basicConstraints);
  t.deepEqual(bc, { critical: true, value: Buffer.from('3000', 'hex') }, 'CA:FALSE, critical');
  const ku = extensionOf(leaf, OID_DER.keyUsage);
  t.deepEqual(ku, { critical: true, value: Buffer.from('03020780', 'hex') }, 'digitalSignature only, critical');
  const issuingSki = extensionOf(issuing, OID_DER.subjectKeyIdentifier)?.value;
  const aki = extensionOf(leaf, OID_DER.authorityKeyIdentifier)?.value;
  t.truthy(issuingSki);
  t.deepEqual(aki?.subarray(aki.length - 20), issuingSki?.subarray(2), 'AKI names the issuing key');
  t.truthy(extensionOf(leaf, OID_DER.subjectKeyIdentifier));

  // The sync and async paths issue the same profile.
  const viaSync = new X509Certificate(issuer.signCsr(csr(['cart.shop.svc']), ID).certPem);
  t.is(viaSync.subjectAltName, leaf.subjectAltName);
  t.true(viaSync.verify(issuing.publicKey));
});

test('validity: notBefore backdated 60s, default TTL, requested TTL honoured below the max and capped above it', async (t) => {
  const { issuer } = setup();
  const d = await issuer.signCsrAsync(csr(), ID);
  t.is(BACKDATE_MS, 60_000);
  t.is(d.notBeforeMs, T0 - 60_000);
  t.is(d.notAfterMs, T0 + DAY_MS);
  const info = describeCert(d.certPem);
  t.is(info.notBeforeMs, d.notBeforeMs, 'reported times are what the certificate says');
  t.is(info.notAfterMs, d.notAfterMs);
  t.is((await issuer.signCsrAsync(csr(), ID, HOUR_MS)).notAfterMs, T0 + HOUR_MS);
  t.is((await issuer.signCsrAsync(csr(), ID, 30 * DAY_MS)).notAfterMs, T0 + 7 * DAY_MS, 'capped, not refused');
  t.is(issuer.signCsr(csr(), ID, 30 * DAY_MS).notAfterMs, T0 + 7 * DAY_MS);
  const short = await issuer.signCsrAsync(csr(), ID, 5_000);
  t.is(short.notBeforeMs, T0 - 1_000, 'a 5s certificate is backdated 10% of its life (whole seconds), not a minute');
  t.true(short.notBeforeMs + 0.8 * (short.notAfterMs - short.notBeforeMs) > T0, 'so its rotation point lies ahead');
});

test('validity is clamped to the issuing CA notAfter, and an expired CA issues nothing', async (t) => {
  const { clock, ca, issuer } = setup(2 * DAY_MS);
  const caNotAfter = describeCert(ca.issuing.certPem).notAfterMs;
  t.is(caNotAfter, T0 + 2 * DAY_MS);
  clock.advance(1.5 * DAY_MS);
  const d = await issuer.signCsrAsync(csr(), ID);
  t.is(d.notAfterMs, caNotAfter, 'a 24h certificate would outlive its CA');
  clock.advance(DAY_MS);
  const e = await t.throwsAsync(issuer.signCsrAsync(csr(), ID), { instanceOf: CaMaterialError });
  t.regex(e?.message ?? '', /expired/);
});

test('serials are positive, at most 128 bits, distinct, and reported as the certificate holds them', async (t) => {
  const { issuer } = setup();
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const d = await issuer.signCsrAsync(csr(), ID);
    const cert = new X509Certificate(d.certPem);
    const serialTlv = expectTag(tbsFields(cert.raw)[0], TAG.INTEGER);
    const bytes = value(cert.raw, serialTlv);
    t.true(bytes.length <= 16 || (bytes.length === 17 && bytes[0] === 0), 'fits 128 bits');
    t.is((bytes[0] as number) & 0x80, 0, 'positive');
    t.true(d.serialHex.length > 0 && d.serialHex.length <= 32 && !d.serialHex.startsWith('00'));
    t.is(d.serialHex, cert.serialNumber.toLowerCase());
    seen.add(d.serialHex);
  }
  t.is(seen.size, 200);
});

test('RSA leaf keys also get keyEncipherment', async (t) => {
  const { ca, issuer } = setup();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const leaf = new X509Certificate((await issuer.signCsrAsync(createCsr({ ...rsa, uri: spiffeId(ID) }), ID)).certPem);
  t.deepEqual(extensionOf(leaf, OID_DER.keyUsage)?.value, Buffer.from('030205a0', 'hex'));
  t.true(leaf.verify(new X509Certificate(ca.issuing.certPem).publicKey));
});

test('refusals surface through the issuer, including a foreign trust domain', async (t) => {
  const { issuer } = setup();
  const foreign = { ...ID, trustDomain: 'other.td' };
  const e = t.throws(() => issuer.signCsr(createCsr({ ...key, uri: spiffeId(foreign) }), foreign), { instanceOf: CsrRefusedError });
  t.is(e?.reason, 'identity-mismatch');
  t.regex(e?.message ?? '', /trust domain cluster\.local only/);
  const e2 = await t.throwsAsync(issuer.signCsrAsync(createCsr({ ...key, uri: spiffeId(ID), requestCa: true }), ID), { instanceOf: CsrRefusedError });
  t.is(e2?.reason, 'ca-requested');
});

test('issueServing allows IP SANs for the control plane', (t) => {
  const { ca, issuer } = setup();
  const k = generateWorkloadKey();
  const d = issuer.issueServing({ publicKey: k.publicKey, uri: 'spiffe://cluster.local/ns/mesh-system/sa/control-plane', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], ttlMs: HOUR_MS });
  const leaf = new X509Certificate(d.certPem);
  t.is(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/mesh-system/sa/control-plane, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  t.true(leaf.verify(new X509Certificate(ca.issuing.certPem).publicKey));
  t.is(d.notAfterMs, T0 + HOUR_MS);
  t.throws(() => issuer.issueServing({ publicKey: k.publicKey }), { message: /needs a URI, DNS name or IP/ });
});

test('issuer options are checked', (t) => {
  const { ca, clock } = setup();
  const e = t.throws(() => new Issuer(ca, { trustDomain: 'cluster.local', defaultTtlMs: 2 * DAY_MS, maxTtlMs: DAY_MS, clock }), { instanceOf: ConfigInvalidError });
  t.regex(e?.message ?? '', /maxTtlMs: want >= defaultTtlMs/);
});

test('hierarchy: self-signed root, issuing CA with pathlen 0, both CA:TRUE with keyCertSign', (t) => {
  const clock = new FakeClock(T0);
  const ca = createCaHierarchy({ trustDomain: 'cluster.local', clock });
  const root = new X509Certificate(ca.root.certPem);
  const issuing = new X509Certificate(ca.issuing.certPem);
  t.true(root.ca && issuing.ca);
  t.true(root.verify(root.publicKey));
  t.true(issuing.checkIssued(root) && issuing.verify(root.publicKey));
  t.deepEqual(extensionOf(root, OID_DER.basicConstraints), { critical: true, value: Buffer.from('30030101ff', 'hex') });
  t.deepEqual(extensionOf(issuing, OID_DER.basicConstraints), { critical: true, value: Buffer.from('30060101ff020100', 'hex') });
  t.deepEqual(extensionOf(root, OID_DER.keyUsage), { critical: true, value: Buffer.from('03020106', 'hex') });
  t.deepEqual(ca.trustBundlePem, [ca.root.certPem]);
  t.deepEqual(ca.intermediatesPem, []);
  t.is(ca.root.key?.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.is(ca.issuing.key.asymmetricKeyDetails?.namedCurve, 'prime256v1');

  const levels = caLevels(ca);
  t.deepEqual(levels.map((l) => l.level), ['root', 'issuing']);
  t.is(levels[0]?.notAfterMs, T0 + 10 * 365 * DAY_MS);
  t.is(levels[1]?.notAfterMs, T0 + 365 * DAY_MS);
  t.is(levels[0]?.serialHex, describeCert(ca.root.certPem).serialHex);
});

test('three-tier: the chain carries the intermediate, and leaves chain up to the root', async (t) => {
  const clock = new FakeClock(T0);
  const ca = createCaHierarchy({ trustDomain: 'cluster.local', clock, intermediates: 1 });
  t.is(ca.intermediatesPem.length, 1);
  const issuer = new Issuer(ca, { trustDomain: 'cluster.local', defaultTtlMs: DAY_MS, maxTtlMs: DAY_MS, clock });
  const d = await issuer.signCsrAsync(csr(), ID);
  t.is(d.chainPem.length, 3);
  const certs = [...d.chainPem, ca.root.certPem].map((p) => new X509Certificate(p));
  for (let i = 0; i + 1 < certs.length; i++) {
    const [child, parent] = [certs[i] as X509Certificate, certs[i + 1] as X509Certificate];
    t.true(child.checkIssued(parent) && child.verify(parent.publicKey), `link ${i}`);
  }
  t.deepEqual(caLevels(ca).map((l) => l.level), ['root', 'intermediate', 'issuing']);
});

test('validateCaMaterial names what does not fit', (t) => {
  const clock = new FakeClock(T0);
  const a = createCaHierarchy({ trustDomain: 'cluster.local', clock });
  const b = createCaHierarchy({ trustDomain: 'cluster.local', clock });
  t.notThrows(() => validateCaMaterial(a));
  const wrongKey = t.throws(() => validateCaMaterial({ ...a, issuing: { certPem: a.issuing.certPem, key: b.issuing.key } }), { instanceOf: CaMaterialError });
  t.is(wrongKey?.file, 'issuing key');
  const wrongRoot = t.throws(() => validateCaMaterial({ ...a, root: b.root }), { instanceOf: CaMaterialError });
  t.is(wrongRoot?.file, 'issuing certificate');
  t.regex(wrongRoot?.message ?? '', /not signed by root certificate/);
  const notCa = new Issuer(a, { trustDomain: 'cluster.local', defaultTtlMs: DAY_MS, maxTtlMs: DAY_MS, clock }).issueServing({ publicKey: generateWorkloadKey().publicKey, dnsNames: ['x'] });
  const leafAsCa = t.throws(() => validateCaMaterial({ ...a, issuing: { certPem: notCa.certPem, key: a.issuing.key } }), { instanceOf: CaMaterialError });
  t.regex(leafAsCa?.message ?? '', /not a CA/);
});
