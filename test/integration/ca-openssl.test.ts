import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FakeClock } from '../../shared/clock.js';
import { spiffeId } from '../../shared/spiffe.js';
import { createCsr } from '../../shared/x509/csr-build.js';
import { generateWorkloadKey } from '../../shared/x509/keys.js';
import { Issuer, createCaHierarchy, loadOrCreateCa, type CaMaterial } from '../../control-plane/ca/index.js';

const run = promisify(execFile);
const ID = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart' };
const DAY_MS = 24 * 3_600_000;

async function tmp(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-ca-openssl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Issues a leaf from `ca` and has openssl verify it against the root alone. */
async function opensslVerifies(t: import('ava').ExecutionContext, ca: CaMaterial, clock: FakeClock): Promise<string> {
  const dir = await tmp(t);
  const issuer = new Issuer(ca, { trustDomain: 'cluster.local', defaultTtlMs: DAY_MS, maxTtlMs: 7 * DAY_MS, clock });
  const key = generateWorkloadKey();
  const issued = await issuer.signCsrAsync(createCsr({ ...key, uri: spiffeId(ID), dnsNames: ['cart.shop.svc'] }), ID);
  await writeFile(join(dir, 'root.pem'), ca.root.certPem);
  await writeFile(join(dir, 'untrusted.pem'), issued.chainPem.slice(1).join(''));
  await writeFile(join(dir, 'leaf.pem'), issued.certPem);
  // -x509_strict additionally enforces RFC 5280 encoding rules (AKI/SKI presence, critical basicConstraints, ...).
  const verify = await run('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'leaf.pem'], { cwd: dir });
  t.is(verify.stdout.trim(), 'leaf.pem: OK');
  const client = await run('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'leaf.pem'], { cwd: dir });
  t.is(client.stdout.trim(), 'leaf.pem: OK');
  return (await run('openssl', ['x509', '-in', 'leaf.pem', '-text', '-noout'], { cwd: dir })).stdout;
}

test('openssl verifies a leaf against the root, and reads it as an X.509-SVID', async (t) => {
  // openssl checks validity against the real time.
  const clock = new FakeClock(Date.now());
  const text = await opensslVerifies(t, createCaHierarchy({ trustDomain: 'cluster.local', clock }), clock);
  t.regex(text, /URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart, DNS:cart\.shop\.svc/);
  t.regex(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  t.regex(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  t.regex(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
  t.regex(text, /X509v3 Authority Key Identifier/);
  t.regex(text, /Signature Algorithm: ecdsa-with-SHA256/);
});

test('openssl verifies through a three-tier chain', async (t) => {
  const clock = new FakeClock(Date.now());
  await opensslVerifies(t, createCaHierarchy({ trustDomain: 'cluster.local', clock, intermediates: 1 }), clock);
});

test('openssl verifies a leaf from a CA that was written to disk and loaded back', async (t) => {
  const clock = new FakeClock(Date.now());
  const dir = join(await tmp(t), 'ca');
  await loadOrCreateCa(dir, { trustDomain: 'cluster.local', clock });
  const loaded = await loadOrCreateCa(dir, { trustDomain: 'cluster.local', clock });
  await opensslVerifies(t, loaded, clock);
  const root = await run('openssl', ['x509', '-in', join(dir, 'root-cert.pem'), '-text', '-noout']);
  t.regex(root.stdout, /CA:TRUE/);
  t.regex(root.stdout, /Certificate Sign, CRL Sign/);
  const issuing = await run('openssl', ['x509', '-in', join(dir, 'issuing-cert.pem'), '-text', '-noout']);
  t.regex(issuing.stdout, /CA:TRUE, pathlen:0/);
  const key = await run('openssl', ['pkey', '-in', join(dir, 'issuing-key.pem'), '-noout', '-text']);
  t.regex(key.stdout, /NIST CURVE: P-256/);
});
