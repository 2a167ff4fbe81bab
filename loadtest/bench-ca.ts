/**
 * npm run bench:ca [-- --seconds N]: how fast the CA signs P-256 CSRs on one thread (the full path: PEM
 * decode, every CSR rule, certificate build, sign, PEM encode), against what native crypto does for
 * one ECDSA P-256 verify plus one sign in the same run. The two are measured in alternating rounds so
 * that machine noise weighs on both. Progress goes to stderr; the last stdout line is the result.
 */
import { X509Certificate, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { systemClock } from '../shared/clock.js';
import { spiffeId, type WorkloadIdentity } from '../shared/spiffe.js';
import { createCsr } from '../shared/x509/csr-build.js';
import { pemToDer } from '../shared/x509/pem.js';
import { Issuer, createCaHierarchy } from '../control-plane/ca/index.js';

const POOL = 2000;
const ROUND_MS = 250;
const TRUST_DOMAIN = 'cluster.local';

function secondsArg(): number {
  const i = process.argv.indexOf('--seconds');
  const v = i >= 0 ? Number(process.argv[i + 1]) : 6;
  if (!(v > 0)) throw new Error(`--seconds: want a positive number, got ${process.argv[i + 1]}`);
  return v;
}

interface Sample {
  csrPem: string;
  identity: WorkloadIdentity;
  publicKey: KeyObject;
  message: Buffer;
  signature: Buffer;
}

function makePool(): Sample[] {
  const out: Sample[] = [];
  for (let i = 0; i < POOL; i++) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const identity = { trustDomain: TRUST_DOMAIN, namespace: 'bench', serviceAccount: `sa-${i}` };
    const csrPem = createCsr({ privateKey, publicKey, uri: spiffeId(identity), dnsNames: [`sa-${i}.bench.svc`, `sa-${i}.bench.svc.cluster.local`] });
    // The native baseline verifies a message of the CSR's size with an already imported key.
    const message = pemToDer(csrPem, 'CERTIFICATE REQUEST')[0] as Buffer;
    out.push({ csrPem, identity, publicKey, message, signature: sign('sha256', message, privateKey) });
  }
  return out;
}

type Op = (i: number) => unknown;

/** Runs `op` (awaiting it when it returns a promise) until `ms` have passed; returns [ops, elapsed ms]. */
async function round(ms: number, op: Op): Promise<[number, number]> {
  const start = performance.now();
  const deadline = start + ms;
  let n = 0;
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < 16; k++) {
      const r = op(n++);
      if (r instanceof Promise) await r;
    }
    now = performance.now();
  }
  return [n, now - start];
}

class Tally {
  ops = 0;
  ms = 0;
  add([n, ms]: [number, number]): void {
    this.ops += n;
    this.ms += ms;
  }
  get perSecond(): number {
    return Math.round((this.ops / this.ms) * 1000);
  }
}

async function main(): Promise<void> {
  const seconds = secondsArg();
  process.stderr.write(`bench:ca: generating ${POOL} keys and CSRs...\n`);
  const material = createCaHierarchy({ trustDomain: TRUST_DOMAIN, clock: systemClock });
  const issuer = new Issuer(material, { trustDomain: TRUST_DOMAIN, defaultTtlMs: 24 * 3_600_000, maxTtlMs: 7 * 24 * 3_600_000, clock: systemClock });
  const pool = makePool();
  const caKey = material.issuing.key;
  const first = pool[0] as Sample;
  const sample = new X509Certificate((await issuer.signCsrAsync(first.csrPem, first.identity)).certPem);
  if (!sample.verify(new X509Certificate(material.issuing.certPem).publicKey)) {
    throw new Error('bench:ca: the issued certificate does not verify; the benchmark would measure nothing real');
  }
  // The native baseline signs a message of a leaf certificate's size with the issuing key.
  const tbsLike = Buffer.from(sample.raw);

  let failures = 0;
  const ops: Record<'caAsync' | 'caSync' | 'native', Op> = {
    caAsync: (i) => {
      const s = pool[i % POOL] as Sample;
      return issuer.signCsrAsync(s.csrPem, s.identity);
    },
    caSync: (i) => {
      const s = pool[i % POOL] as Sample;
      issuer.signCsr(s.csrPem, s.identity);
    },
    native: (i) => {
      const s = pool[i % POOL] as Sample;
      if (!verify('sha256', s.message, s.publicKey, s.signature)) failures++;
      sign('sha256', tbsLike, caKey);
    },
  };
  const tallies = { caAsync: new Tally(), caSync: new Tally(), native: new Tally() };
  const names = ['caAsync', 'caSync', 'native'] as const;
  for (const name of names) await round(300, ops[name]);
  const rounds = Math.max(3, Math.round((seconds * 1000) / (names.length * ROUND_MS)));
  for (let r = 0; r < rounds; r++) {
    // Rotate the order, so that none always runs right after another's garbage.
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length] as (typeof names)[number];
      tallies[name].add(await round(ROUND_MS, ops[name]));
    }
    if ((r + 1) % 4 === 0 || r === rounds - 1) {
      const { caAsync, caSync, native } = tallies;
      process.stderr.write(`round ${r + 1}/${rounds}: ca-sign ${caAsync.perSecond} csr/s (sync import ${caSync.perSecond}), native ${native.perSecond} ops/s\n`);
    }
  }
  if (failures) throw new Error(`bench:ca: ${failures} baseline signatures did not verify`);
  const n = tallies.caAsync.perSecond;
  const m = tallies.native.perSecond;
  process.stderr.write(`signCsr (synchronous JWK key import): ${tallies.caSync.perSecond} csr/s, ratio ${(tallies.caSync.perSecond / m).toFixed(2)}\n`);
  process.stdout.write(`ca-sign: ${n} csr/s, native-limit: ${m} ops/s, ratio: ${(n / m).toFixed(2)}\n`);
}

await main();
