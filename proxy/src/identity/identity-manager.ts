import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { Clock, Timer } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logging.js';
import { asError, errnoCode } from '../../../shared/errors.js';
import { spiffeId, type WorkloadIdentity } from '../../../shared/spiffe.js';
import type { NodeInfo, SecretResponse } from '../../../shared/secret-types.js';
import { createCsr } from '../../../shared/x509/csr-build.js';
import { generateWorkloadKey } from '../../../shared/x509/keys.js';
import { Backoff, INITIAL_BACKOFF_MS } from './backoff.js';
import { RotationScheduler } from './rotation.js';
import { SecretSession, type SessionCredentials } from './secret-session.js';
import { validateBundle, validateChain, validateSnapshotChain } from './validate-secret.js';
import { BootstrapError, SecretRejectedError } from './errors.js';
import type { IdentitySnapshot, IdentitySource } from './snapshot.js';

export interface IdentityManagerOptions {
  /** host:port of the control plane's gRPC listener. */
  readonly controlPlane: string;
  /** The root given at bootstrap (--root-cert): the only thing that authenticates the control plane at first. */
  readonly bootstrapRootsPem: string;
  readonly tokenFile: string | undefined;
  readonly identity: WorkloadIdentity;
  readonly dnsNames: readonly string[];
  readonly requestedTtlMs: number | undefined;
  readonly nodeId: string;
  readonly proxyVersion: string;
  readonly responseTimeoutMs: number;
  readonly clock: Clock;
  readonly random: () => number;
  readonly log: Logger;
}

export interface RotationEvent {
  readonly serialHex: string;
  readonly previousSerialHex: string | undefined;
  readonly notAfterMs: number;
  readonly credential: 'token' | 'certificate';
}

export interface RotationFailure {
  readonly error: Error;
  readonly retryInMs: number;
  readonly servingUntilMs: number | undefined;
}

/**
 * Do not open an mTLS stream with a certificate this close to expiry (it could expire mid-handshake):
 * bootstrap with the token instead. A twentieth of the lifetime, at most 2s, so short-lived
 * certificates still renew over mTLS at their 80% point.
 */
const MAX_CERT_AUTH_MARGIN_MS = 2000;
const certUsable = (snap: IdentitySnapshot, nowMs: number): boolean =>
  nowMs < snap.notAfterMs - Math.min(MAX_CERT_AUTH_MARGIN_MS, (snap.notAfterMs - snap.notBeforeMs) / 20);

/**
 * Owns the workload's key and certificate: obtains the first one with the bootstrap token, renews at
 * 80% of its life over mTLS with a fresh key, keeps serving the current one while the control plane
 * is away, and applies trust bundle pushes at once.
 *
 * Events: 'changed' (IdentitySnapshot), 'rotated' (RotationEvent), 'rotation-failed' (RotationFailure),
 * 'nack' (SecretRejectedError).
 */
export class IdentityManager extends EventEmitter implements IdentitySource {
  #snapshot: IdentitySnapshot | undefined;
  #roots: X509Certificate[] = [];
  #session: SecretSession | undefined;
  #inFlight = false;
  #renewPending = false;
  #stopped = false;
  #retry: Timer | undefined;
  // Renewal and reconnect back off separately: a long outage must not stretch the first renewal retry.
  readonly #backoff: Backoff;
  readonly #reconnectBackoff: Backoff;
  readonly #rotation: RotationScheduler;
  readonly #spiffeId: string;

  constructor(private readonly o: IdentityManagerOptions) {
    super();
    this.#backoff = new Backoff(o.random);
    this.#reconnectBackoff = new Backoff(o.random);
    this.#rotation = new RotationScheduler(o.clock, o.random, () => this.#renewSoon());
    this.#spiffeId = spiffeId(o.identity);
  }

  current(): IdentitySnapshot | undefined {
    return this.#snapshot;
  }

  get spiffeId(): string {
    return this.#spiffeId;
  }

  /** When the next renewal is due, for /certs and status. */
  get rotationDueAtMs(): number | undefined {
    return this.#rotation.dueAtMs;
  }

  start(): void {
    this.#renewSoon();
  }

  stop(): void {
    this.#stopped = true;
    this.#rotation.cancel();
    this.#retry?.cancel();
    this.#session?.close();
  }

  /** Renews now, or right after the exchange in flight: a rotation point must never be dropped. */
  #renewSoon(): void {
    if (this.#stopped) return;
    if (this.#inFlight) {
      this.#renewPending = true;
      return;
    }
    this.#retry?.cancel();
    this.#retry = undefined;
    this.#renewPending = false;
    this.#exclusive(() => this.#obtain());
  }

  /** One exchange with the control plane at a time; a renewal asked for meanwhile runs after it. */
  #exclusive(op: () => Promise<void>): void {
    this.#inFlight = true;
    void op().finally(() => {
      this.#inFlight = false;
      if (this.#renewPending) this.#renewSoon();
    });
  }

  async #obtain(): Promise<void> {
    const previous = this.#snapshot;
    let session: SecretSession | undefined;
    try {
      const { privateKey, publicKey, privateKeyPem } = generateWorkloadKey();
      const csrPem = createCsr({ privateKey, publicKey, uri: this.#spiffeId, dnsNames: [...this.o.dnsNames] });
      const { creds, kind } = await this.#credentials();
      session = new SecretSession(this.o.controlPlane, creds, this.o.identity.trustDomain);
      session.send({
        node: this.#node(),
        csr_pem: csrPem,
        requested_ttl_seconds: this.o.requestedTtlMs ? Math.ceil(this.o.requestedTtlMs / 1000) : 0,
      });
      const res = await this.#firstResponse(session);
      const snapshot = this.#accept(res, session, privateKey, publicKey, privateKeyPem);
      this.#session?.close();
      this.#session = session;
      this.#watch(session);
      this.#backoff.reset();
      this.#reconnectBackoff.reset();
      this.#snapshot = snapshot;
      const due = this.#rotation.schedule(snapshot.notBeforeMs, snapshot.notAfterMs);
      this.o.log.info(
        { serial: snapshot.serialHex, previousSerial: previous?.serialHex, notAfter: new Date(snapshot.notAfterMs).toISOString(), renewAt: new Date(due).toISOString(), credential: kind },
        previous ? 'certificate rotated' : 'certificate obtained',
      );
      this.emit('changed', snapshot);
      this.emit('rotated', { serialHex: snapshot.serialHex, previousSerialHex: previous?.serialHex, notAfterMs: snapshot.notAfterMs, credential: kind } satisfies RotationEvent);
    } catch (e) {
      session?.close();
      this.#scheduleRetry(asError(e));
    }
  }

  /** Current certificate over mTLS while it is valid; the bootstrap token otherwise. */
  async #credentials(): Promise<{ creds: SessionCredentials; kind: 'token' | 'certificate' }> {
    const rootsPem = this.#controlPlaneRoots();
    const snap = this.#snapshot;
    if (snap && certUsable(snap, this.o.clock.now())) {
      return { creds: { rootsPem, keyPem: snap.privateKeyPem, chainPem: snap.chainPem.join('') }, kind: 'certificate' };
    }
    if (!this.o.tokenFile) {
      throw new BootstrapError(snap ? 'the certificate has expired and no --token-file is set to bootstrap again' : 'no certificate yet and no --token-file to bootstrap with');
    }
    let token: string;
    try {
      // Read on every bootstrap: an operator may drop a fresh token in place without restarting us.
      token = (await readFile(this.o.tokenFile, 'utf8')).trim();
    } catch (e) {
      throw new BootstrapError(`cannot read --token-file ${this.o.tokenFile}: ${errnoCode(e) ?? String(e)}`);
    }
    if (!token) throw new BootstrapError(`--token-file ${this.o.tokenFile} is empty`);
    return { creds: { rootsPem, token }, kind: 'token' };
  }

  #controlPlaneRoots(): string {
    const fromBundle = this.#snapshot?.rootsPem ?? [];
    return [this.o.bootstrapRootsPem, ...fromBundle.filter((r) => !this.o.bootstrapRootsPem.includes(r.trim()))].join('\n');
  }

  #firstResponse(session: SecretSession): Promise<SecretResponse> {
    return new Promise((resolve, reject) => {
      const timer = this.o.clock.setTimer(this.o.responseTimeoutMs, () => {
        cleanup();
        reject(new BootstrapError(`no answer from the control plane at ${this.o.controlPlane} within ${this.o.responseTimeoutMs}ms`));
      });
      const onResponse = (res: SecretResponse): void => {
        cleanup();
        resolve(res);
      };
      const onClosed = (err: Error | undefined): void => {
        cleanup();
        reject(new BootstrapError(`control plane at ${this.o.controlPlane} closed the secret stream: ${err?.message ?? 'no reason given'}`, { cause: err }));
      };
      const cleanup = (): void => {
        timer.cancel();
        session.off('response', onResponse);
        session.off('closed', onClosed);
      };
      session.on('response', onResponse);
      session.on('closed', onClosed);
    });
  }

  /** Validates an answer to our CSR; ACKs it, or NACKs it and throws. */
  #accept(res: SecretResponse, session: SecretSession, privateKey: KeyObject, publicKey: KeyObject, privateKeyPem: string): IdentitySnapshot {
    try {
      const roots = validateBundle(res.trust_bundle, this.o.identity.trustDomain);
      if (!res.certificate) throw new SecretRejectedError('chain-malformed', 'the answer to a CSR carries no certificate');
      const chain = validateChain(res.certificate, publicKey, this.#spiffeId, roots, this.o.clock.now());
      this.#roots = roots;
      session.send({ version_info: res.version_info, response_nonce: res.nonce });
      return {
        spiffeId: this.#spiffeId,
        trustDomain: this.o.identity.trustDomain,
        privateKey,
        privateKeyPem,
        chainPem: chain.chainPem,
        rootsPem: res.trust_bundle?.root_pem ?? [],
        serialHex: chain.serialHex,
        notBeforeMs: chain.notBeforeMs,
        notAfterMs: chain.notAfterMs,
        bundleVersion: res.trust_bundle?.version ?? '',
      };
    } catch (e) {
      this.#nack(session, res, e);
      throw e;
    }
  }

  /** After the first answer the session stays open for pushes (new trust bundles). */
  #watch(session: SecretSession): void {
    session.on('response', (res: SecretResponse) => this.#onPush(session, res));
    session.once('closed', (err: Error | undefined) => {
      if (this.#stopped || this.#session !== session) return;
      this.#session = undefined;
      this.o.log.warn({ err: err?.message }, 'secret stream to the control plane lost; serving the current certificate and reconnecting');
      this.#reconnectLater();
    });
  }

  #onPush(session: SecretSession, res: SecretResponse): void {
    const snap = this.#snapshot;
    if (!snap) return;
    try {
      const roots = validateBundle(res.trust_bundle, this.o.identity.trustDomain);
      if (res.certificate) throw new SecretRejectedError('chain-malformed', 'a pushed certificate answers no CSR of ours');
      session.send({ version_info: res.version_info, response_nonce: res.nonce });
      if (res.trust_bundle?.version === snap.bundleVersion) return;
      this.#roots = roots;
      const next: IdentitySnapshot = { ...snap, rootsPem: res.trust_bundle?.root_pem ?? [], bundleVersion: res.trust_bundle?.version ?? '' };
      this.#snapshot = next;
      this.o.log.info({ bundleVersion: next.bundleVersion, roots: next.rootsPem.length }, 'trust bundle updated');
      this.emit('changed', next);
      if (!this.#chainsToBundle(next)) {
        this.o.log.warn('the current certificate no longer chains to the trust bundle; renewing now');
        this.#renewSoon();
      }
    } catch (e) {
      this.#nack(session, res, e);
    }
  }

  #chainsToBundle(snap: IdentitySnapshot): boolean {
    try {
      validateSnapshotChain(snap, this.#roots, this.o.clock.now());
      return true;
    } catch {
      return false;
    }
  }

  /** Reopens a push-only stream (no CSR) after the control plane went away: a restart must not re-issue the fleet. */
  #reconnectLater(): void {
    const delay = this.#reconnectBackoff.nextDelayMs();
    this.#retry = this.o.clock.setTimer(delay, () => {
      this.#retry = undefined;
      if (this.#stopped || this.#inFlight || this.#session) return;
      this.#exclusive(() => this.#reconnect());
    });
  }

  async #reconnect(): Promise<void> {
    const snap = this.#snapshot;
    if (!snap || !certUsable(snap, this.o.clock.now())) {
      this.#renewPending = true;
      return;
    }
    const session = new SecretSession(
      this.o.controlPlane,
      { rootsPem: this.#controlPlaneRoots(), keyPem: snap.privateKeyPem, chainPem: snap.chainPem.join('') },
      this.o.identity.trustDomain,
    );
    session.send({ node: this.#node(), version_info: snap.serialHex });
    try {
      const res = await this.#firstResponse(session);
      this.#session = session;
      this.#watch(session);
      this.#onPush(session, res);
      this.#reconnectBackoff.reset();
      this.o.log.info('secret stream to the control plane re-established');
    } catch (e) {
      session.close();
      this.o.log.warn({ err: asError(e).message }, 'control plane still unreachable; serving the current certificate');
      this.#reconnectLater();
    }
  }

  #nack(session: SecretSession, res: SecretResponse, e: unknown): void {
    const err = asError(e);
    this.o.log.warn({ err: err.message, version: res.version_info }, 'NACK: refusing what the control plane sent; keeping the current identity');
    session.send({
      version_info: this.#snapshot?.serialHex ?? '',
      response_nonce: res.nonce,
      error_detail: { code: err instanceof SecretRejectedError ? err.code : 'MESH_ERR_INTERNAL', message: err.message },
    });
    if (err instanceof SecretRejectedError) this.emit('nack', err);
  }

  #scheduleRetry(error: Error): void {
    if (this.#stopped) return;
    const now = this.o.clock.now();
    const serving = this.#snapshot && now < this.#snapshot.notAfterMs ? this.#snapshot.notAfterMs : undefined;
    // Never back off past the point where the current certificate could still be renewed.
    const retryInMs = Math.min(this.#backoff.nextDelayMs(), serving === undefined ? Infinity : Math.max(INITIAL_BACKOFF_MS, (serving - now) / 3));
    this.o.log.warn(
      { err: error.message, code: 'code' in error ? error.code : undefined, retryInMs, servingUntil: serving ? new Date(serving).toISOString() : undefined },
      this.#snapshot ? 'certificate renewal failed; keeping the current certificate' : 'cannot obtain a certificate yet',
    );
    this.emit('rotation-failed', { error, retryInMs, servingUntilMs: serving } satisfies RotationFailure);
    this.#retry = this.o.clock.setTimer(retryInMs, () => {
      this.#retry = undefined;
      this.#renewSoon();
    });
  }

  #node(): NodeInfo {
    return {
      id: this.o.nodeId,
      namespace: this.o.identity.namespace,
      service_account: this.o.identity.serviceAccount,
      proxy_version: this.o.proxyVersion,
    };
  }
}
