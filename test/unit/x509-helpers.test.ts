import test from 'ava';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { FakeClock } from '../../shared/clock.js';
import { DerError, readTlv, time, readTime, unsignedInteger, integerHex, readWhole, TAG } from '../../shared/x509/der.js';
import { pemBlocks, pemToDer, derToPem, singlePemDer } from '../../shared/x509/pem.js';
import { encodeGeneralNames, parseGeneralNames } from '../../shared/x509/san.js';
import { describeCert } from '../../shared/x509/cert-info.js';
import { generateWorkloadKey } from '../../shared/x509/keys.js';
import { createCaHierarchy, Issuer } from '../../control-plane/ca/index.js';

test('pem: a bundle splits into DER by label, and DER round-trips through PEM', (t) => {
  const a = Buffer.from('3003020101', 'hex');
  const b = Buffer.from('300602010202017f', 'hex');
  const bundle = `junk before\n${derToPem(a, 'CERTIFICATE')}text between\n${derToPem(b, 'PRIVATE KEY')}${derToPem(b, 'CERTIFICATE')}`;
  t.deepEqual(pemBlocks(bundle).map((x) => x.label), ['CERTIFICATE', 'PRIVATE KEY', 'CERTIFICATE']);
  t.deepEqual(pemToDer(bundle, 'CERTIFICATE').map((d) => d.toString('hex')), [a.toString('hex'), b.toString('hex')]);
  t.deepEqual(singlePemDer(derToPem(b, 'PRIVATE KEY'), ['PRIVATE KEY']), b);
  const long = Buffer.alloc(200, 7);
  const pem = derToPem(long, 'X');
  t.true(pem.split('\n').every((line) => line.length <= 64));
  t.deepEqual(singlePemDer(pem, ['X']), long);
});

test('pem: truncated, foreign-alphabet, wrong-label and multi-block inputs are errors', (t) => {
  const pem = derToPem(Buffer.alloc(100, 1), 'CERTIFICATE');
  t.throws(() => pemBlocks(pem.slice(0, pem.length / 2)), { instanceOf: DerError, message: /no END line/ });
  t.throws(() => pemBlocks(pem.replace('AQEB', 'AQ*B')), { instanceOf: DerError, message: /outside base64/ });
  t.throws(() => singlePemDer(pem, ['CERTIFICATE REQUEST']), { message: /want CERTIFICATE REQUEST/ });
  t.throws(() => singlePemDer(pem + pem, ['CERTIFICATE']), { message: /2 PEM blocks/ });
  t.throws(() => singlePemDer('hello', ['CERTIFICATE']), { message: /no PEM block/ });
});

test('der: strict lengths, integers and times', (t) => {
  t.throws(() => readTlv(Buffer.from('3081050102030405', 'hex'), 0), { message: /non-minimal/ });
  t.throws(() => readTlv(Buffer.from('3080', 'hex'), 0), { message: /indefinite/ });
  t.throws(() => readTlv(Buffer.from('300501', 'hex'), 0), { message: /truncated/ });
  const big = unsignedInteger(Buffer.from('0000ff01', 'hex'));
  t.is(big.toString('hex'), '020300ff01', 'leading zeros dropped, sign byte added');
  t.is(integerHex(big, readWhole(big, TAG.INTEGER)), 'ff01');
  for (const iso of ['2026-03-01T12:34:56Z', '2049-12-31T23:59:59Z', '2050-01-01T00:00:00Z', '1999-06-01T00:00:00Z']) {
    const ms = Date.parse(iso);
    const der = time(ms);
    t.is(der[0], ms >= Date.parse('2050-01-01T00:00:00Z') ? TAG.GENERALIZED_TIME : TAG.UTC_TIME, iso);
    t.is(readTime(der, readTlv(der, 0)), ms, iso);
  }
});

test('san: URI, DNS and IP names round-trip, IPv6 in canonical form', (t) => {
  const der = encodeGeneralNames({ uris: ['spiffe://td/ns/a/sa/b'], dnsNames: ['a.b.svc'], ipAddresses: ['10.0.0.1', '::1', '2001:db8:0:0:1:0:0:1'] });
  t.deepEqual(parseGeneralNames(der), {
    uris: ['spiffe://td/ns/a/sa/b'],
    dnsNames: ['a.b.svc'],
    ipAddresses: ['10.0.0.1', '::1', '2001:db8::1:0:0:1'],
    others: [],
  });
});

test('describeCert reads a certificate as Node and openssl see it', (t) => {
  const clock = new FakeClock(Date.parse('2026-03-01T00:00:00Z'));
  const ca = createCaHierarchy({ trustDomain: 'td.example', clock });
  const issuer = new Issuer(ca, { trustDomain: 'td.example', defaultTtlMs: 3_600_000, maxTtlMs: 7_200_000, clock });
  const { publicKey, privateKeyPem } = generateWorkloadKey();
  t.is(createPrivateKey(privateKeyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const issued = issuer.issueServing({ publicKey, uri: 'spiffe://td.example/ns/mesh/sa/cp', dnsNames: ['cp.mesh.svc'], ipAddresses: ['127.0.0.1', '::1'] });
  const x = new X509Certificate(issued.certPem);
  const info = describeCert(issued.certPem);
  t.deepEqual(describeCert(x.raw), info, 'PEM and DER agree');
  t.is(info.serialHex, x.serialNumber.toLowerCase().replace(/^(00)+/, ''));
  t.is(info.notBeforeMs, Date.parse('2026-03-01T00:00:00Z') - 60_000);
  t.is(info.notAfterMs, Date.parse('2026-03-01T01:00:00Z'));
  t.is(info.notAfterMs, Date.parse(x.validTo));
  t.is(info.subject, 'O=td.example');
  t.regex(info.issuer, /^O=td\.example, CN=mtls-mesh issuing CA [0-9a-f]{8}$/);
  t.deepEqual(info.uriSans, ['spiffe://td.example/ns/mesh/sa/cp']);
  t.deepEqual(info.dnsSans, ['cp.mesh.svc']);
  t.deepEqual(info.ipSans, ['127.0.0.1', '::1']);
  t.is(info.spiffeId, 'spiffe://td.example/ns/mesh/sa/cp');
  t.false(info.isCa);
  t.true(describeCert(ca.root.certPem).isCa);
  t.is(describeCert(ca.root.certPem).spiffeId, undefined);
  t.is(info.fingerprint256, x.fingerprint256);
});
