import test from 'ava';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createCsr, type CsrOptions } from '../../shared/x509/csr-build.js';
import { derToPem, singlePemDer } from '../../shared/x509/pem.js';
import { generateWorkloadKey } from '../../shared/x509/keys.js';
import { spiffeId, type WorkloadIdentity } from '../../shared/spiffe.js';
import { checkCsr, checkCsrAsync, CsrRefusedError, type ApprovedCsr, type CsrRefusal } from '../../control-plane/ca/index.js';

const ID: WorkloadIdentity = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart' };
const URI = spiffeId(ID);
const p256 = generateWorkloadKey();

const csr = (o: Partial<CsrOptions> = {}): string => createCsr({ privateKey: p256.privateKey, publicKey: p256.publicKey, uri: URI, ...o });
const pair = (type: 'ec' | 'rsa', param: string | number): { privateKey: KeyObject; publicKey: KeyObject } =>
  type === 'ec' ? generateKeyPairSync('ec', { namedCurve: param as string }) : generateKeyPairSync('rsa', { modulusLength: param as number });

/** Both import paths must agree on every verdict. */
async function both(pem: string, id: WorkloadIdentity = ID): Promise<ApprovedCsr> {
  const sync = checkCsr(pem, id);
  const viaAsync = await checkCsrAsync(pem, id);
  if (JSON.stringify(sync) !== JSON.stringify(viaAsync)) throw new Error('checkCsr and checkCsrAsync disagree');
  return sync;
}

async function refused(t: import('ava').ExecutionContext, pem: string, reason: CsrRefusal, message: RegExp, id: WorkloadIdentity = ID): Promise<void> {
  const e = t.throws(() => checkCsr(pem, id), { instanceOf: CsrRefusedError });
  t.is(e?.reason, reason);
  t.is(e?.code, 'MESH_ERR_CA_CSR_REFUSED');
  t.regex(e?.message ?? '', message);
  const ea = await t.throwsAsync(checkCsrAsync(pem, id), { instanceOf: CsrRefusedError });
  t.is(ea?.reason, reason, 'the async path refuses for the same reason');
}

test('a well-formed P-256 CSR for the authenticated identity is approved, SPKI and SANs kept verbatim', async (t) => {
  const pem = csr({ dnsNames: ['cart.shop.svc', 'cart.shop.svc.cluster.local'], subjectCN: 'ignored' });
  const ok = await both(pem);
  t.is(ok.uri, URI);
  t.deepEqual(ok.dnsNames, ['cart.shop.svc', 'cart.shop.svc.cluster.local']);
  t.is(ok.keyType, 'ec');
  t.deepEqual(ok.spki, p256.publicKey.export({ type: 'spki', format: 'der' }));
  t.true(singlePemDer(pem, ['CERTIFICATE REQUEST']).includes(ok.sanDer));
});

test('P-384 and RSA 2048 keys are accepted', async (t) => {
  const ec384 = pair('ec', 'secp384r1');
  t.is((await both(createCsr({ ...ec384, uri: URI }))).keyType, 'ec');
  const rsa = pair('rsa', 2048);
  t.is((await both(createCsr({ ...rsa, uri: URI }))).keyType, 'rsa');
});

test('malformed: not PEM, wrong label, truncated, garbage DER, oversized', async (t) => {
  const good = csr();
  await refused(t, 'hello', 'malformed', /no PEM block/);
  await refused(t, good.replace(/CERTIFICATE REQUEST/g, 'CERTIFICATE'), 'malformed', /want CERTIFICATE REQUEST/);
  await refused(t, good.slice(0, good.length - 40), 'malformed', /no END line/);
  const der = singlePemDer(good, ['CERTIFICATE REQUEST']);
  await refused(t, derToPem(der.subarray(0, der.length - 10), 'CERTIFICATE REQUEST'), 'malformed', /truncated|not a PEM PKCS#10/);
  await refused(t, derToPem(Buffer.concat([der, Buffer.of(0)]), 'CERTIFICATE REQUEST'), 'malformed', /trailing bytes/);
  await refused(t, 'x'.repeat(70_000), 'malformed', /limit is 65536/);
});

test('bad-signature: a tampered signature, or a CSR signed by another key', async (t) => {
  await refused(t, csr({ tamperSignature: true }), 'bad-signature', /not signed by the private key/);
  const other = generateWorkloadKey();
  await refused(t, createCsr({ privateKey: other.privateKey, publicKey: p256.publicKey, uri: URI }), 'bad-signature', /not signed/);
});

test('san-count: no URI SAN, no SAN at all, or two URI SANs', async (t) => {
  await refused(t, csr({ uri: undefined, dnsNames: ['cart.shop.svc'] }), 'san-count', /exactly one URI SAN.*has 0/);
  await refused(t, csr({ uri: undefined }), 'san-count', /no SAN extension/);
  await refused(t, csr({ uris: [URI, 'spiffe://cluster.local/ns/shop/sa/admin'] }), 'san-count', /has 2/);
});

test('san-type: IP and wildcard DNS SANs are not for workload certificates', async (t) => {
  await refused(t, csr({ ipAddresses: ['10.1.2.3'] }), 'san-type', /IP 10\.1\.2\.3/);
  await refused(t, csr({ dnsNames: ['*.shop.svc'] }), 'san-type', /not a plain DNS name/);
});

test('identity-mismatch: the URI SAN must be the authenticated SPIFFE ID', async (t) => {
  await refused(t, csr({ uri: 'spiffe://cluster.local/ns/shop/sa/admin' }), 'identity-mismatch', /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart; the CSR asks for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/admin/);
  await refused(t, csr(), 'identity-mismatch', /asks for/, { ...ID, namespace: 'other' });
});

test('ca-requested: basicConstraints CA:TRUE, or keyCertSign key usage', async (t) => {
  await refused(t, csr({ requestCa: true }), 'ca-requested', /never a CA.*CA:TRUE/);
  // keyUsage BIT STRING with keyCertSign (bit 5): 03 02 02 04
  await refused(t, csr({ extraExtensions: [{ oid: '2.5.29.15', critical: true, valueDer: Buffer.from('03020204', 'hex') }] }), 'ca-requested', /keyCertSign/);
});

test('weak-key: RSA 1024 and curves other than P-256/P-384', async (t) => {
  await refused(t, createCsr({ ...pair('rsa', 1024), uri: URI }), 'weak-key', /RSA of at least 2048 bits; the CSR has RSA 1024/);
  await refused(t, createCsr({ ...pair('ec', 'secp256k1'), uri: URI }), 'weak-key', /curve secp256k1/);
  await refused(t, createCsr({ ...pair('ec', 'prime192v1'), uri: URI }), 'weak-key', /curve P-192/);
  await refused(t, createCsr({ ...pair('ec', 'secp521r1'), uri: URI }), 'weak-key', /curve P-521/);
});
