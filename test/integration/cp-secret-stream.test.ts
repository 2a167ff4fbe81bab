import test from 'ava';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createCsr } from '../../shared/x509/csr-build.js';
import { generateWorkloadKey } from '../../shared/x509/keys.js';
import { describeCert } from '../../shared/x509/cert-info.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { askOnce } from '../helpers/secret-client.js';

const HOUR_MS = 3_600_000;
const ID = 'spiffe://cluster.local/ns/foo/sa/httpbin';

let cp: TestControlPlane;
test.before(async () => {
  cp = await startTestControlPlane({ flags: { 'workload-ttl': '24h', 'max-workload-ttl': '48h' } });
});
test.after.always(async () => {
  await cp?.stop();
});

function csrFor(key = generateWorkloadKey(), extra: Partial<Parameters<typeof createCsr>[0]> = {}): string {
  return createCsr({ privateKey: key.privateKey, publicKey: key.publicKey, uri: ID, dnsNames: ['httpbin.foo.svc'], ...extra });
}

test.serial('a token obtains a certificate that verifies against the root', async (t) => {
  const { token } = await cp.createToken('foo', 'httpbin');
  const key = generateWorkloadKey();
  const { response, error, session } = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, token }, { csr_pem: csrFor(key) });
  t.teardown(() => session.close());
  t.is(error, undefined);
  const chain = response?.certificate?.pem ?? [];
  t.is(chain.length, 2, 'leaf + issuing CA');
  const [leaf, issuing] = chain.map((p) => new X509Certificate(p));
  const root = new X509Certificate(cp.rootPem);
  t.true(leaf!.verify(issuing!.publicKey), 'leaf signed by the issuing CA');
  t.true(issuing!.verify(root.publicKey), 'issuing CA signed by the root');
  t.true(leaf!.checkIssued(issuing!));
  t.is(describeCert(leaf!).spiffeId, ID);
  t.true(leaf!.publicKey.export({ format: 'der', type: 'spki' }).equals(key.publicKey.export({ format: 'der', type: 'spki' })));
  t.deepEqual(response?.trust_bundle?.root_pem.map((p) => new X509Certificate(p).fingerprint256), [root.fingerprint256]);
  t.truthy(response?.nonce);
  t.truthy(response?.version_info);
  const life = (response?.certificate?.not_after_unix_ms ?? 0) - (response?.certificate?.not_before_unix_ms ?? 0);
  t.is(life, 24 * HOUR_MS + 60_000, 'default TTL, notBefore backdated a minute');

  // ACK is recorded on the control plane.
  const acked = once(cp.connections, 'ack', { signal: AbortSignal.timeout(10_000) });
  session.send({ version_info: response?.version_info, response_nonce: response?.nonce });
  const [conn] = (await acked) as [{ ackedVersion?: string; identity: { namespace: string } }];
  t.is(conn.ackedVersion, response?.version_info);
  t.is(conn.identity.namespace, 'foo');
});

test.serial('each CSR rule is refused with its named reason', async (t) => {
  const { token } = await cp.createToken('foo', 'httpbin');
  const other = generateWorkloadKey();
  const rsaSmall = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const cases: [string, string, number][] = [
    ['malformed', 'not a csr', 3],
    ['bad-signature', csrFor(undefined, { tamperSignature: true }), 3],
    ['identity-mismatch', csrFor(undefined, { uri: 'spiffe://cluster.local/ns/bar/sa/httpbin' }), 7],
    ['san-count', csrFor(undefined, { uris: [ID, 'spiffe://cluster.local/ns/foo/sa/other'] }), 3],
    ['san-count', csrFor(undefined, { uris: [] }), 3],
    ['ca-requested', csrFor(undefined, { requestCa: true }), 3],
    ['weak-key', createCsr({ privateKey: rsaSmall.privateKey, publicKey: rsaSmall.publicKey, uri: ID }), 3],
  ];
  for (const [reason, csr, code] of cases) {
    const { error, response, session } = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, token }, { csr_pem: csr });
    session.close();
    t.is(response, undefined, reason);
    t.is(error?.code, code, `${reason}: gRPC status`);
    t.is(error?.metadata?.get('mesh-csr-refusal')[0], reason, `${reason}: named in metadata`);
    t.regex(error?.details ?? '', new RegExp(`\\(${reason}\\)`), `${reason}: named in the message`);
  }
  t.truthy(other);
  const metrics = await (await fetch(`${cp.httpUrl}/metrics`)).text();
  t.regex(metrics, /mesh_ca_csr_refused_total\{reason="weak-key"\} 1/);
  t.regex(metrics, /mesh_ca_csr_refused_total\{reason="identity-mismatch"\} 1/);
});

test.serial('a requested TTL beyond the maximum is capped', async (t) => {
  const { token } = await cp.createToken('foo', 'httpbin');
  const { response, session } = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, token }, { csr_pem: csrFor(), requested_ttl_seconds: 30 * 24 * 3600 });
  session.close();
  const c = response?.certificate;
  t.is((c?.not_after_unix_ms ?? 0) - (c?.not_before_unix_ms ?? 0), 48 * HOUR_MS + 60_000);
});

test.serial('unknown, revoked and expired tokens are refused; no credential at all too', async (t) => {
  const unknown = 'mesh.0123456789abcdef.' + 'A'.repeat(43);
  const revoked = await cp.createToken('foo', 'httpbin');
  t.is((await cp.api('DELETE', `/api/v1/tokens/${revoked.id}`)).status, 200);
  const expiring = await cp.createToken('foo', 'httpbin', '1m');
  cp.clock.offsetMs = 2 * 60_000;
  t.teardown(() => void (cp.clock.offsetMs = 0));
  for (const [token, reason] of [
    [unknown, 'token-unknown'],
    [revoked.token, 'token-revoked'],
    [expiring.token, 'token-expired'],
    [undefined, 'no-credential'],
  ] as const) {
    const { error, session } = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, ...(token ? { token } : {}) }, { csr_pem: csrFor() });
    session.close();
    t.is(error?.code, 16, `${reason}: UNAUTHENTICATED`);
    t.regex(error?.details ?? '', new RegExp(`\\(${reason}\\)`));
  }
});

test.serial('renewal over mTLS works after the bootstrap token expired', async (t) => {
  const { token } = await cp.createToken('foo', 'httpbin', '1h');
  const key = generateWorkloadKey();
  const first = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, token }, { csr_pem: csrFor(key) });
  first.session.close();
  const chainPem = first.response?.certificate?.pem.join('') ?? '';
  t.teardown(() => void (cp.clock.offsetMs = 0));
  cp.clock.offsetMs = 2 * HOUR_MS;

  // The token alone no longer works...
  const viaToken = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, token }, { csr_pem: csrFor() });
  viaToken.session.close();
  t.regex(viaToken.error?.details ?? '', /token-expired/);

  // ...but the current certificate renews, with a fresh key.
  const next = generateWorkloadKey();
  const renewed = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, keyPem: key.privateKeyPem, chainPem }, { csr_pem: csrFor(next) });
  renewed.session.close();
  t.is(renewed.error, undefined);
  t.not(renewed.response?.certificate?.serial_hex, first.response?.certificate?.serial_hex);

  // A certificate past its notAfter must bootstrap again.
  cp.clock.offsetMs = 25 * HOUR_MS;
  const stale = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, keyPem: key.privateKeyPem, chainPem }, { csr_pem: csrFor() });
  stale.session.close();
  t.is(stale.error?.code, 16);
  t.regex(stale.error?.details ?? '', /cert-expired.*bootstrap again/);
});

test.serial('a certificate cannot be used to get another identity', async (t) => {
  const { token } = await cp.createToken('foo', 'httpbin');
  const key = generateWorkloadKey();
  const first = await askOnce(cp.grpcTarget, { rootsPem: cp.rootPem, token }, { csr_pem: csrFor(key) });
  first.session.close();
  const res = await askOnce(
    cp.grpcTarget,
    { rootsPem: cp.rootPem, keyPem: key.privateKeyPem, chainPem: first.response?.certificate?.pem.join('') ?? '' },
    { csr_pem: csrFor(undefined, { uri: 'spiffe://cluster.local/ns/foo/sa/admin' }) },
  );
  res.session.close();
  t.is(res.error?.code, 7);
  t.regex(res.error?.details ?? '', /identity-mismatch/);
});

test('a control plane restart keeps the CA: old certificates still verify', async (t) => {
  const a = await startTestControlPlane();
  const { token } = await a.createToken('foo', 'httpbin');
  const key = generateWorkloadKey();
  const before = await askOnce(a.grpcTarget, { rootsPem: a.rootPem, token }, { csr_pem: csrFor(key) });
  before.session.close();
  await a.stop();
  const b = await startTestControlPlane({ dataDir: a.dataDir });
  t.teardown(() => b.stop());
  t.is(b.rootPem, a.rootPem, 'same root on disk');
  const leaf = new X509Certificate(before.response?.certificate?.pem[0] ?? '');
  const issuing = new X509Certificate(b.trust.issuers()[0]?.toString() ?? '');
  t.true(leaf.verify(issuing.publicKey), 'the old leaf verifies against the reloaded issuing CA');
  // The old certificate also authenticates a renewal against the restarted control plane.
  const renewed = await askOnce(b.grpcTarget, { rootsPem: b.rootPem, keyPem: key.privateKeyPem, chainPem: before.response?.certificate?.pem.join('') ?? '' }, { csr_pem: csrFor() });
  renewed.session.close();
  t.is(renewed.error, undefined);
  t.truthy(renewed.response?.certificate);
  // And tokens persisted in the store survive too.
  const again = await askOnce(b.grpcTarget, { rootsPem: b.rootPem, token }, { csr_pem: csrFor() });
  again.session.close();
  t.truthy(again.response?.certificate);
});
