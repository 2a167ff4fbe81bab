// Test certificates made with the real `openssl` CLI, independent of control-plane/ca: a root, an issuing CA
// and SPIFFE leaves (X.509-SVID shape: one URI SAN, CA:FALSE, digitalSignature, serverAuth+clientAuth, P-256),
// plus the broken variants the proxy must refuse.
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IdentitySnapshot } from '../../proxy/src/identity/snapshot.js';

const run = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

export interface CaMaterial {
  readonly name: string;
  readonly dir: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export type Eku = 'both' | 'serverAuth' | 'clientAuth';

export interface LeafOptions {
  readonly spiffeId: string;
  readonly dns?: readonly string[];
  readonly eku?: Eku;
  /** openssl ca -startdate/-enddate (YYYYMMDDHHMMSSZ); default now-1h .. now+1d. */
  readonly startDate?: string;
  readonly endDate?: string;
  /** Extra URI SANs (to test "exactly one URI SAN"). */
  readonly extraUris?: readonly string[];
}

export interface LeafMaterial {
  readonly spiffeId: string;
  readonly keyPem: string;
  readonly certPem: string;
  /** Leaf, then the issuing CA. */
  readonly chainPem: readonly string[];
  readonly rootsPem: readonly string[];
  readonly serialHex: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

export function opensslDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

const CA_CONFIG = `[ ca ]
default_ca = testca
[ testca ]
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[ anything ]
commonName = optional
organizationName = optional
[ issuing_ext ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** A CA that signs with `openssl ca`; issuance is serialised (openssl ca rewrites its index file). */
class OpensslCa implements CaMaterial {
  #queue: Promise<unknown> = Promise.resolve();
  #n = 0;
  constructor(
    readonly name: string,
    readonly dir: string,
    readonly certPem: string,
    readonly keyPem: string,
  ) {}

  static async create(parent: string, name: string, issuer?: OpensslCa): Promise<OpensslCa> {
    const dir = join(parent, name);
    await mkdir(join(dir, 'db'), { recursive: true });
    await writeFile(join(dir, 'db/index.txt'), '');
    await writeFile(join(dir, 'db/serial'), randomSerial());
    await writeFile(join(dir, 'ca.cnf'), CA_CONFIG);
    if (!issuer) {
      await openssl(
        ['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
          '-subj', `/O=mtls-mesh test/CN=${name}`, '-days', '3650',
          '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
        dir,
      );
    } else {
      await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.csr', '-subj', `/O=mtls-mesh test/CN=${name}`], dir);
      await issuer.sign(join(dir, 'ca.csr'), join(dir, 'ca.pem'), 'issuing_ext', undefined, opensslDate(Date.now() - 3_600_000), opensslDate(Date.now() + 365 * 86_400_000));
    }
    return new OpensslCa(name, dir, await readFile(join(dir, 'ca.pem'), 'utf8'), await readFile(join(dir, 'ca.key'), 'utf8'));
  }

  sign(csrPath: string, outPath: string, section: string, extFile: string | undefined, start: string, end: string): Promise<void> {
    const p = this.#queue.then(() =>
      openssl(
        ['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', csrPath, '-out', outPath, '-notext',
          '-startdate', start, '-enddate', end, ...(extFile ? ['-extfile', extFile] : []), '-extensions', section],
        this.dir,
      ),
    );
    this.#queue = p.catch(() => undefined);
    return p;
  }

  nextName(): string {
    return `leaf${++this.#n}`;
  }
}

function randomSerial(): string {
  // Positive, 16 bytes.
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[0] = (b[0] ?? 0) & 0x7f | 0x10;
  return Buffer.from(b).toString('hex') + '\n';
}

export interface Pki {
  readonly root: CaMaterial;
  readonly issuing: CaMaterial;
  readonly trustDomain: string;
  /** A leaf signed by the issuing CA. */
  leaf(opts: LeafOptions): Promise<LeafMaterial>;
  /** An IdentitySnapshot for a leaf (roots default to this PKI's root). */
  snapshot(leaf: LeafMaterial, rootsPem?: readonly string[]): IdentitySnapshot;
}

export interface PkiSet {
  readonly dir: string;
  /** The mesh's CA hierarchy. */
  readonly mesh: Pki;
  /** A second, unrelated hierarchy (certificates that must be refused). */
  readonly other: Pki;
  cleanup(): Promise<void>;
}

export function spiffe(ns: string, sa: string, td = 'cluster.local'): string {
  return `spiffe://${td}/ns/${ns}/sa/${sa}`;
}

async function makePki(dir: string, name: string, trustDomain: string): Promise<Pki> {
  const root = await OpensslCa.create(dir, `${name}-root`);
  const issuing = await OpensslCa.create(dir, `${name}-issuing`, root);
  const leaf = async (opts: LeafOptions): Promise<LeafMaterial> => {
    const base = join(issuing.dir, issuing.nextName());
    const eku = opts.eku === 'serverAuth' ? 'serverAuth' : opts.eku === 'clientAuth' ? 'clientAuth' : 'serverAuth,clientAuth';
    const sans = [`URI:${opts.spiffeId}`, ...(opts.extraUris ?? []).map((u) => `URI:${u}`), ...(opts.dns ?? []).map((d) => `DNS:${d}`)];
    await writeFile(
      `${base}.ext`,
      `[ leaf ]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = ${eku}\nsubjectAltName = ${sans.join(',')}\nauthorityKeyIdentifier = keyid\n`,
    );
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/O=mtls-mesh test'], issuing.dir);
    await issuing.sign(`${base}.csr`, `${base}.pem`, 'leaf', `${base}.ext`, opts.startDate ?? opensslDate(Date.now() - 3_600_000), opts.endDate ?? opensslDate(Date.now() + 86_400_000));
    const certPem = await readFile(`${base}.pem`, 'utf8');
    const keyPem = await readFile(`${base}.key`, 'utf8');
    const x = new X509Certificate(certPem);
    return {
      spiffeId: opts.spiffeId,
      keyPem,
      certPem,
      chainPem: [certPem, issuing.certPem],
      rootsPem: [root.certPem],
      serialHex: x.serialNumber.toLowerCase(),
      notBeforeMs: Date.parse(x.validFrom),
      notAfterMs: Date.parse(x.validTo),
    };
  };
  return {
    root,
    issuing,
    trustDomain,
    leaf,
    snapshot(l, rootsPem) {
      return {
        spiffeId: l.spiffeId,
        trustDomain,
        privateKey: createPrivateKey(l.keyPem),
        privateKeyPem: l.keyPem,
        chainPem: l.chainPem,
        rootsPem: rootsPem ?? [root.certPem],
        serialHex: l.serialHex,
        notBeforeMs: l.notBeforeMs,
        notAfterMs: l.notAfterMs,
        bundleVersion: 'test-1',
      };
    },
  };
}

/** Two independent hierarchies in a fresh temp dir. */
export async function createPkiSet(trustDomain = 'cluster.local'): Promise<PkiSet> {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-pki-'));
  const [mesh, other] = await Promise.all([makePki(dir, 'mesh', trustDomain), makePki(dir, 'other', trustDomain)]);
  return { dir, mesh, other, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
