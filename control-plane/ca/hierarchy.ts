import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import { ConfigInvalidError } from '../../shared/errors.js';
import { derToPem } from '../../shared/x509/pem.js';
import type { CaMaterial } from './ca-material.js';
import {
  KU,
  authorityKeyIdExt,
  basicConstraintsExt,
  caSigner,
  distinguishedName,
  keyIdentifier,
  keyUsageExt,
  randomSerial,
  signCertificate,
  spkiKeyBits,
  subjectKeyIdExt,
  tbsCertificate,
  validity,
  type CaSigner,
} from './cert-build.js';

const YEAR_MS = 365 * 24 * 3_600_000;
export const DEFAULT_ROOT_TTL_MS = 10 * YEAR_MS;
export const DEFAULT_ISSUING_TTL_MS = YEAR_MS;
/** Backdated like workload certificates, for peers whose clocks run behind. */
const BACKDATE_MS = 60_000;

export interface CaHierarchyOptions {
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly rootTtlMs?: number;
  readonly issuingTtlMs?: number;
  /**
   * CAs between the root and the issuing CA (three-tier: 1). Their keys are not kept: they exist to
   * sign the CA below them once.
   */
  readonly intermediates?: number;
}

interface Ca {
  certPem: string;
  key: KeyObject;
  signer: CaSigner;
  subject: Buffer;
  keyId: Buffer;
  notAfterMs: number;
}

/** A fresh ECDSA P-256 hierarchy in memory: self-signed root, optional intermediates, issuing CA. */
export function createCaHierarchy(o: CaHierarchyOptions): CaMaterial {
  const now = o.clock.now();
  const rootTtlMs = o.rootTtlMs ?? DEFAULT_ROOT_TTL_MS;
  const issuingTtlMs = o.issuingTtlMs ?? DEFAULT_ISSUING_TTL_MS;
  const intermediates = o.intermediates ?? 0;
  const problems: string[] = [];
  if (!(rootTtlMs > 0)) problems.push(`ca.rootTtlMs: want > 0, got ${rootTtlMs}`);
  if (!(issuingTtlMs > 0)) problems.push(`ca.issuingTtlMs: want > 0, got ${issuingTtlMs}`);
  if (!Number.isInteger(intermediates) || intermediates < 0 || intermediates > 3) problems.push(`ca.intermediates: want 0..3, got ${intermediates}`);
  if (problems.length) throw new ConfigInvalidError(problems);
  const root = makeCa(o.trustDomain, 'root', now, now + rootTtlMs, undefined, undefined);
  const chain: Ca[] = [];
  let parent = root;
  for (let i = 0; i < intermediates; i++) {
    // pathLen counts the CA certificates that may still follow below this one.
    parent = makeCa(o.trustDomain, 'intermediate', now, Math.min(now + rootTtlMs, parent.notAfterMs), parent, intermediates - i);
    chain.unshift(parent);
  }
  const issuing = makeCa(o.trustDomain, 'issuing', now, Math.min(now + issuingTtlMs, parent.notAfterMs), parent, 0);
  return {
    root: { certPem: root.certPem, key: root.key },
    intermediatesPem: chain.map((c) => c.certPem),
    issuing: { certPem: issuing.certPem, key: issuing.key },
    trustBundlePem: [root.certPem],
  };
}

function makeCa(trustDomain: string, level: string, nowMs: number, notAfterMs: number, parent: Ca | undefined, pathLen: number | undefined): Ca {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = keyIdentifier(spkiKeyBits(spki));
  // The key id in the name keeps successive CAs (rotation) apart for chain builders that match on names.
  const subject = distinguishedName(trustDomain, `mtls-mesh ${level} CA ${keyId.toString('hex', 0, 4)}`);
  const signer = caSigner(privateKey, `${level} key`);
  const extensions = [basicConstraintsExt(true, pathLen), keyUsageExt([KU.keyCertSign, KU.cRLSign]), subjectKeyIdExt(keyId)];
  if (parent) extensions.push(authorityKeyIdExt(parent.keyId));
  const notAfter = Math.floor(notAfterMs / 1000) * 1000;
  const tbs = tbsCertificate({
    serial: randomSerial(),
    signer: parent?.signer ?? signer,
    issuer: parent?.subject ?? subject,
    validity: validity(nowMs - BACKDATE_MS, notAfter),
    subject,
    spki,
    extensions,
  });
  const der = signCertificate(tbs, parent?.signer ?? signer);
  return { certPem: derToPem(der, 'CERTIFICATE'), key: privateKey, signer, subject, keyId, notAfterMs: notAfter };
}
