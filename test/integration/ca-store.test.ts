import test from 'ava';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../shared/clock.js';
import { CA_FILES, CaMaterialError, createCaHierarchy, loadOrCreateCa } from '../../control-plane/ca/index.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const opts = { trustDomain: 'cluster.local', clock: new FakeClock(T0) };

async function caDir(t: import('ava').ExecutionContext): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'mesh-ca-store-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  return join(base, 'ca');
}

/** Every file of the directory with its content, to prove nothing was rewritten. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) out[f] = await readFile(join(dir, f), 'utf8');
  return out;
}

async function loadFails(t: import('ava').ExecutionContext, dir: string, file: RegExp, problem: RegExp): Promise<void> {
  const before = await snapshot(dir);
  const e = await t.throwsAsync(loadOrCreateCa(dir, opts), { instanceOf: CaMaterialError });
  t.is(e?.code, 'MESH_ERR_CA_MATERIAL');
  t.regex(e?.file ?? '', file);
  t.regex(e?.message ?? '', problem);
  t.deepEqual(await snapshot(dir), before, 'nothing regenerated or rewritten');
}

test('first start creates the set with private keys 0600; the next start loads the same CA', async (t) => {
  const dir = await caDir(t);
  const created = await loadOrCreateCa(dir, opts);
  t.deepEqual((await readdir(dir)).sort(), [CA_FILES.manifest, CA_FILES.issuingCert, CA_FILES.issuingKey, CA_FILES.rootCert, CA_FILES.rootKey]);
  t.is((await stat(dir)).mode & 0o777, 0o700);
  t.is((await stat(join(dir, CA_FILES.rootKey))).mode & 0o777, 0o600);
  t.is((await stat(join(dir, CA_FILES.issuingKey))).mode & 0o777, 0o600);
  t.deepEqual(JSON.parse(await readFile(join(dir, CA_FILES.manifest), 'utf8')), { format: 1, trustDomain: 'cluster.local', intermediates: 0, createdAt: '2026-03-01T00:00:00.000Z' });
  t.deepEqual((await readdir(join(dir, '..'))).filter((n) => n !== 'ca'), [], 'no staging directory left');

  const loaded = await loadOrCreateCa(dir, opts);
  t.is(loaded.root.certPem, created.root.certPem);
  t.is(loaded.issuing.certPem, created.issuing.certPem);
  t.deepEqual(loaded.trustBundlePem, [created.root.certPem]);
  t.true(loaded.issuing.key.equals(created.issuing.key));
  t.true(loaded.root.key?.equals(created.root.key as NonNullable<typeof created.root.key>));
});

test('a three-tier set round-trips with its intermediates', async (t) => {
  const dir = await caDir(t);
  const created = await loadOrCreateCa(dir, { ...opts, intermediates: 1 });
  const loaded = await loadOrCreateCa(dir, opts);
  t.deepEqual(loaded.intermediatesPem, created.intermediatesPem);
  t.is(loaded.intermediatesPem.length, 1);
});

test('a truncated certificate is reported by name', async (t) => {
  const dir = await caDir(t);
  await loadOrCreateCa(dir, opts);
  const file = join(dir, CA_FILES.issuingCert);
  await truncate(file, (await stat(file)).size - 100);
  await loadFails(t, dir, /issuing-cert\.pem$/, /issuing-cert\.pem: not one readable PEM certificate.*no END line/);
});

test('a corrupted key, and a key that belongs to another certificate, are reported by name', async (t) => {
  const dir = await caDir(t);
  await loadOrCreateCa(dir, opts);
  const rootKey = join(dir, CA_FILES.rootKey);
  const good = await readFile(rootKey, 'utf8');
  await writeFile(rootKey, good.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA'));
  await loadFails(t, dir, /root-key\.pem$/, /root-key\.pem: not one readable/);

  await writeFile(rootKey, good);
  const other = createCaHierarchy(opts);
  await writeFile(join(dir, CA_FILES.issuingKey), other.issuing.key.export({ type: 'pkcs8', format: 'pem' }));
  await loadFails(t, dir, /issuing-key\.pem$/, /does not belong to the certificate in .*issuing-cert\.pem/);
});

test('a certificate from another hierarchy is reported', async (t) => {
  const dir = await caDir(t);
  await loadOrCreateCa(dir, opts);
  await writeFile(join(dir, CA_FILES.issuingCert), createCaHierarchy(opts).issuing.certPem);
  // The key check or the signature check fires; either names the issuing files.
  await loadFails(t, dir, /issuing-(cert|key)\.pem$/, /not signed by|does not belong/);
});

test('a set missing one file is reported, never regenerated', async (t) => {
  const dir = await caDir(t);
  await loadOrCreateCa(dir, opts);
  await unlink(join(dir, CA_FILES.issuingKey));
  await loadFails(t, dir, /issuing-key\.pem$/, /missing from the CA set.*never regenerated.*restore the files from a backup/);
});

test('files without a manifest (an interrupted in-place first start) are reported, not replaced', async (t) => {
  const dir = await caDir(t);
  await mkdir(dir, { mode: 0o700 });
  const partial = createCaHierarchy(opts);
  await writeFile(join(dir, CA_FILES.rootCert), partial.root.certPem);
  await writeFile(join(dir, CA_FILES.rootKey), partial.root.key?.export({ type: 'pkcs8', format: 'pem' }) ?? '');
  await loadFails(t, dir, /ca\.json$/, /a first start was interrupted while creating the CA.*move .* away and start again/);
});

test('a corrupt manifest and a foreign trust domain are reported', async (t) => {
  const dir = await caDir(t);
  await loadOrCreateCa(dir, opts);
  const e = await t.throwsAsync(loadOrCreateCa(dir, { ...opts, trustDomain: 'other.example' }), { instanceOf: CaMaterialError });
  t.regex(e?.message ?? '', /created for trust domain cluster\.local.*runs with trust domain other\.example/);
  await writeFile(join(dir, CA_FILES.manifest), '{"format": 1, "trustDo');
  await loadFails(t, dir, /ca\.json$/, /not valid JSON/);
});

test('a staging directory left by a crash before the rename is discarded and a CA is created', async (t) => {
  const dir = await caDir(t);
  const stale = join(dir, '..', '.ca.staging-deadbeef0000');
  await mkdir(stale);
  await writeFile(join(stale, CA_FILES.rootCert), 'half');
  const ca = await loadOrCreateCa(dir, opts);
  t.is(await readFile(join(dir, CA_FILES.rootCert), 'utf8'), ca.root.certPem);
  t.deepEqual((await readdir(join(dir, '..'))).sort(), ['ca']);
});

test('an empty existing directory (a mounted volume) is filled in place', async (t) => {
  const dir = await caDir(t);
  await mkdir(dir, { mode: 0o700 });
  const ca = await loadOrCreateCa(dir, opts);
  t.is((await loadOrCreateCa(dir, opts)).root.certPem, ca.root.certPem);
  t.is((await stat(join(dir, CA_FILES.issuingKey))).mode & 0o777, 0o600);
});
