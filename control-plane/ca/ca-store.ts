import { X509Certificate, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asError, errnoCode } from '../../shared/errors.js';
import { fsyncDir, readIfExists, writeFileAtomic } from '../../shared/crash-safe-file.js';
import type { Logger } from '../../shared/logging.js';
import { pemBlocks, singlePemDer } from '../../shared/x509/pem.js';
import { caLevels, validateCaMaterial, type CaLabels, type CaMaterial } from './ca-material.js';
import { CaMaterialError } from './errors.js';
import { createCaHierarchy, type CaHierarchyOptions } from './hierarchy.js';

export const CA_FILES = {
  rootCert: 'root-cert.pem',
  rootKey: 'root-key.pem',
  intermediates: 'intermediates.pem',
  issuingCert: 'issuing-cert.pem',
  issuingKey: 'issuing-key.pem',
  /** Written last: its presence says the set is complete. */
  manifest: 'ca.json',
} as const;

interface Manifest {
  format: 1;
  trustDomain: string;
  intermediates: number;
  createdAt: string;
}

export type CaStoreOptions = CaHierarchyOptions;

const KEY_LABELS = ['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY'];

/**
 * Loads the CA from `caDir`, or creates it on the very first start. Existing material is never
 * replaced: a new root would split trust with every certificate already issued, so anything missing or
 * unreadable is a CaMaterialError that names the file and says what to do.
 *
 * A first start builds the set in a sibling staging directory and renames it into place, so a crash
 * leaves either no CA (the next start begins again) or a complete one. When `caDir` already exists
 * empty (a mounted volume) the files go straight in, the manifest last.
 */
export async function loadOrCreateCa(caDir: string, o: CaStoreOptions, log?: Logger): Promise<CaMaterial> {
  let entries: string[] | undefined;
  try {
    entries = await readdir(caDir);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw new CaMaterialError(caDir, `cannot read the CA directory: ${errnoCode(e) ?? asError(e).message}`, { cause: e });
  }
  if (entries === undefined) return createByRename(caDir, o, log);
  if (entries.filter((n) => !n.startsWith('.')).length === 0) {
    const m = createCaHierarchy(o);
    await writeSet(caDir, m, o);
    logCreated(log, caDir, m);
    return m;
  }
  return load(caDir, entries, o, log);
}

async function createByRename(caDir: string, o: CaStoreOptions, log?: Logger): Promise<CaMaterial> {
  const parent = dirname(caDir);
  const prefix = `.${basename(caDir)}.staging-`;
  await mkdir(parent, { recursive: true, mode: 0o700 });
  for (const stale of (await readdir(parent)).filter((n) => n.startsWith(prefix))) {
    // Never renamed into place, so nothing was issued from it: removing it splits no trust.
    log?.warn({ dir: join(parent, stale) }, 'removing an unfinished CA left by an interrupted first start');
    await rm(join(parent, stale), { recursive: true, force: true });
  }
  const staging = join(parent, prefix + randomBytes(6).toString('hex'));
  await mkdir(staging, { mode: 0o700 });
  const m = createCaHierarchy(o);
  await writeSet(staging, m, o);
  try {
    await rename(staging, caDir);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    // Another process published a CA first: use that one, never a second root.
    if (errnoCode(e) === 'ENOTEMPTY' || errnoCode(e) === 'EEXIST') return loadOrCreateCa(caDir, o, log);
    throw new CaMaterialError(caDir, `cannot move the new CA into place: ${errnoCode(e) ?? asError(e).message}`, { cause: e });
  }
  await fsyncDir(parent);
  logCreated(log, caDir, m);
  return m;
}

async function writeSet(dir: string, m: CaMaterial, o: CaStoreOptions): Promise<void> {
  const pkcs8 = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();
  if (!m.root.key) throw new CaMaterialError(join(dir, CA_FILES.rootKey), 'a new CA must have its root key');
  await writeFileAtomic(join(dir, CA_FILES.rootCert), m.root.certPem, 0o644);
  await writeFileAtomic(join(dir, CA_FILES.rootKey), pkcs8(m.root.key), 0o600);
  if (m.intermediatesPem.length) await writeFileAtomic(join(dir, CA_FILES.intermediates), m.intermediatesPem.join(''), 0o644);
  await writeFileAtomic(join(dir, CA_FILES.issuingCert), m.issuing.certPem, 0o644);
  await writeFileAtomic(join(dir, CA_FILES.issuingKey), pkcs8(m.issuing.key), 0o600);
  const manifest: Manifest = { format: 1, trustDomain: o.trustDomain, intermediates: m.intermediatesPem.length, createdAt: new Date(o.clock.now()).toISOString() };
  await writeFileAtomic(join(dir, CA_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
}

async function load(caDir: string, entries: readonly string[], o: CaStoreOptions, log?: Logger): Promise<CaMaterial> {
  const path = (name: string): string => join(caDir, name);
  const howToFix =
    `The CA is never regenerated over existing material (certificates it issued would stop verifying): restore the files from a backup, ` +
    `or, if nothing issued by this CA is in use any more, move ${caDir} away and start again to create a new CA.`;
  if (!entries.includes(CA_FILES.manifest)) {
    throw new CaMaterialError(
      path(CA_FILES.manifest),
      `missing, while ${caDir} holds ${entries.join(', ')}: either a first start was interrupted while creating the CA, or the manifest was deleted. ${howToFix}`,
    );
  }
  const manifest = parseManifest(path(CA_FILES.manifest), await read(path(CA_FILES.manifest)));
  const required: string[] = [CA_FILES.rootCert, CA_FILES.rootKey, CA_FILES.issuingCert, CA_FILES.issuingKey];
  if (manifest.intermediates > 0) required.push(CA_FILES.intermediates);
  const missing = required.filter((n) => !entries.includes(n));
  if (missing.length) {
    throw new CaMaterialError(missing.map(path).join(', '), `missing from the CA set in ${caDir} (the manifest lists a complete set). ${howToFix}`);
  }
  if (manifest.trustDomain !== o.trustDomain) {
    throw new CaMaterialError(
      path(CA_FILES.manifest),
      `this CA was created for trust domain ${manifest.trustDomain}, but the control plane runs with trust domain ${o.trustDomain}; start with --trust-domain ${manifest.trustDomain}, or use a separate data directory for the other trust domain`,
    );
  }
  const rootPem = await readCert(path(CA_FILES.rootCert));
  const material: CaMaterial = {
    root: { certPem: rootPem, key: await readKey(path(CA_FILES.rootKey), log) },
    intermediatesPem: manifest.intermediates > 0 ? await readIntermediates(path(CA_FILES.intermediates), manifest.intermediates) : [],
    issuing: { certPem: await readCert(path(CA_FILES.issuingCert)), key: await readKey(path(CA_FILES.issuingKey), log) },
    trustBundlePem: [rootPem],
  };
  const labels: CaLabels = {
    rootCert: path(CA_FILES.rootCert),
    rootKey: path(CA_FILES.rootKey),
    intermediates: path(CA_FILES.intermediates),
    issuingCert: path(CA_FILES.issuingCert),
    issuingKey: path(CA_FILES.issuingKey),
  };
  validateCaMaterial(material, labels);
  const now = o.clock.now();
  for (const l of caLevels(material)) {
    if (l.notAfterMs <= now) log?.error({ level: l.level, serial: l.serialHex, notAfter: new Date(l.notAfterMs).toISOString() }, 'a CA certificate has expired: rotate the CA');
  }
  log?.info({ dir: caDir, levels: caLevels(material).map((l) => ({ ...l, notAfter: new Date(l.notAfterMs).toISOString() })) }, 'CA loaded');
  return material;
}

async function read(file: string): Promise<string> {
  try {
    const buf = await readIfExists(file);
    if (buf === undefined) throw new CaMaterialError(file, 'disappeared while the CA was being loaded');
    return buf.toString('utf8');
  } catch (e) {
    if (e instanceof CaMaterialError) throw e;
    throw new CaMaterialError(file, `cannot be read: ${errnoCode(e) ?? asError(e).message}`, { cause: e });
  }
}

function parseManifest(file: string, text: string): Manifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CaMaterialError(file, `not valid JSON (truncated or corrupted?): ${asError(e).message}`, { cause: e });
  }
  const r = typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  if (r.format !== 1 || typeof r.trustDomain !== 'string' || !Number.isInteger(r.intermediates) || typeof r.createdAt !== 'string') {
    throw new CaMaterialError(file, 'not a CA manifest of format 1 (want {format: 1, trustDomain, intermediates, createdAt})');
  }
  return { format: 1, trustDomain: r.trustDomain, intermediates: r.intermediates as number, createdAt: r.createdAt };
}

async function readCert(file: string): Promise<string> {
  const text = await read(file);
  try {
    new X509Certificate(singlePemDer(text, ['CERTIFICATE']));
  } catch (e) {
    throw new CaMaterialError(file, `not one readable PEM certificate (truncated or corrupted?): ${asError(e).message}`, { cause: e });
  }
  return text;
}

async function readIntermediates(file: string, count: number): Promise<string[]> {
  const text = await read(file);
  let certs: X509Certificate[];
  try {
    certs = pemBlocks(text)
      .filter((b) => b.label === 'CERTIFICATE')
      .map((b) => new X509Certificate(b.der));
  } catch (e) {
    throw new CaMaterialError(file, `not readable PEM certificates (truncated or corrupted?): ${asError(e).message}`, { cause: e });
  }
  if (certs.length !== count) throw new CaMaterialError(file, `holds ${certs.length} certificates; the manifest says ${count}`);
  return certs.map((c) => c.toString());
}

async function readKey(file: string, log?: Logger): Promise<KeyObject> {
  const text = await read(file);
  let key: KeyObject;
  try {
    singlePemDer(text, KEY_LABELS);
    key = createPrivateKey(text);
  } catch (e) {
    throw new CaMaterialError(file, `not one readable unencrypted PEM private key (truncated or corrupted?): ${asError(e).message}`, { cause: e });
  }
  const mode = (await stat(file)).mode & 0o777;
  if (mode & 0o077) log?.warn({ file, mode: mode.toString(8) }, 'a CA private key is readable by other users; chmod 600 it');
  return key;
}

function logCreated(log: Logger | undefined, caDir: string, m: CaMaterial): void {
  log?.info({ dir: caDir, levels: caLevels(m).map((l) => ({ ...l, notAfter: new Date(l.notAfterMs).toISOString() })) }, 'created a new CA');
}
