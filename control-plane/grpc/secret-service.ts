import { randomBytes, type X509Certificate } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logging.js';
import { spiffeId, type WorkloadIdentity } from '../../shared/spiffe.js';
import { asError } from '../../shared/errors.js';
import type { SecretRequest, SecretResponse, SecretStreamServer, TrustBundleMsg } from '../../shared/secret-types.js';
import { AuthError, authenticatePeerCertificate, type BootstrapTokens } from '../auth/index.js';
import { CsrRefusedError, type IssuedCert } from '../ca/index.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import { Connections, type ProxyConnection } from './connections.js';
import { toStatus } from './status-map.js';

export interface CsrSigner {
  signCsrAsync(csrPem: string, identity: WorkloadIdentity, requestedTtlMs?: number): Promise<IssuedCert>;
}

/** What the secret stream hands out as trust, and which issuers it accepts renewal certificates from. */
export interface TrustSource {
  bundle(): TrustBundleMsg;
  issuers(): readonly X509Certificate[];
}

export interface SecretServiceDeps {
  readonly trustDomain: string;
  readonly tokens: BootstrapTokens;
  readonly signer: CsrSigner;
  readonly trust: TrustSource;
  readonly connections: Connections;
  readonly metrics: ControlPlaneMetrics;
  readonly clock: Clock;
  readonly log: Logger;
}

interface Credential {
  identity: WorkloadIdentity;
  kind: 'token' | 'certificate';
  token?: string;
  certNotAfterMs?: number;
}

/** The server side of SecretDiscovery.StreamSecrets. */
export class SecretService {
  constructor(private readonly d: SecretServiceDeps) {}

  readonly handle = (call: SecretStreamServer): void => {
    void this.#open(call);
  };

  async #open(call: SecretStreamServer): Promise<void> {
    // Requests that arrive while the credential is being checked wait in the stream's buffer.
    call.pause();
    let cred: Credential;
    try {
      cred = await this.#authenticate(call);
    } catch (e) {
      this.#fail(call, undefined, e);
      return;
    }
    const conn = this.d.connections.add({
      identity: cred.identity,
      credential: cred.kind,
      peer: call.getPeer(),
      connectedAtMs: this.d.clock.now(),
      call,
    });
    this.d.metrics.connectedProxies.set(this.d.connections.size);
    const log = this.d.log.child({ stream: conn.streamId, spiffeId: spiffeId(cred.identity), peer: conn.peer });
    log.info({ credential: cred.kind }, 'secret stream opened');
    let queue = Promise.resolve();
    const close = (): void => {
      if (!this.d.connections.remove(conn)) return;
      this.d.metrics.connectedProxies.set(this.d.connections.size);
      log.info('secret stream closed');
    };
    call.on('data', (req: SecretRequest) => {
      // One request at a time per stream, in order: an ACK must not overtake the CSR before it.
      queue = queue.then(() => this.#onRequest(conn, cred, req, log)).catch((e: unknown) => {
        this.#fail(call, conn, e);
        close();
      });
    });
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('cancelled', close);
    call.on('error', close);
    call.resume();
  }

  async #authenticate(call: SecretStreamServer): Promise<Credential> {
    const peerCert = call.getAuthContext()?.sslPeerCertificate;
    const auth = call.metadata.get('authorization')[0];
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    let certError: unknown;
    if (peerCert?.raw) {
      try {
        const { identity, notAfterMs } = authenticatePeerCertificate(peerCert.raw, this.d.trust.issuers(), this.d.trustDomain, this.d.clock);
        return { identity, kind: 'certificate', certNotAfterMs: notAfterMs };
      } catch (e) {
        // An expired certificate with a fresh token is a proxy bootstrapping again: let the token decide.
        if (token === undefined) throw e;
        certError = e;
      }
    }
    if (token !== undefined) {
      const identity = await this.d.tokens.authenticate(token);
      if (certError) this.d.log.info({ reason: asError(certError).message }, 'client certificate not accepted, bootstrapping with token');
      return { identity, kind: 'token', token };
    }
    throw new AuthError('no-credential', 'present a bootstrap token (authorization: Bearer …) or a mesh certificate over mTLS');
  }

  async #onRequest(conn: ProxyConnection, cred: Credential, req: SecretRequest, log: Logger): Promise<void> {
    if (req.node && !conn.node) conn.node = req.node;
    if (req.response_nonce) this.#onAckOrNack(conn, req, log);
    if (req.csr_pem) {
      await this.#recheck(cred);
      const started = performance.now();
      let issued: IssuedCert;
      try {
        issued = await this.d.signer.signCsrAsync(req.csr_pem, cred.identity, req.requested_ttl_seconds ? req.requested_ttl_seconds * 1000 : undefined);
      } catch (e) {
        if (e instanceof CsrRefusedError) {
          this.d.metrics.csrRefused.inc({ reason: e.reason });
          log.warn({ reason: e.reason, err: e.message }, 'CSR refused');
        }
        throw e;
      }
      this.d.metrics.signingSeconds.observe((performance.now() - started) / 1000);
      this.d.metrics.csrSigned.inc();
      conn.certSerial = issued.serialHex;
      conn.certNotAfterMs = issued.notAfterMs;
      log.info({ serial: issued.serialHex, notAfter: new Date(issued.notAfterMs).toISOString() }, 'certificate issued');
      this.d.connections.send(conn, this.#response(issued));
    } else if (!req.response_nonce) {
      // A first request without a CSR asks for the trust bundle only.
      this.d.connections.send(conn, this.#response(undefined));
    }
  }

  #onAckOrNack(conn: ProxyConnection, req: SecretRequest, log: Logger): void {
    const nonce = req.response_nonce ?? '';
    const result = this.d.connections.answer(conn, nonce, req.version_info ?? '', req.error_detail?.message || undefined, this.d.clock.now());
    if (result === 'nack') {
      this.d.metrics.nacks.inc();
      log.warn({ nonce, error: req.error_detail }, 'proxy NACKed a secret response; it keeps its previous one');
    }
  }

  /** A stream lives longer than its credential: every CSR re-checks that the credential still holds. */
  async #recheck(cred: Credential): Promise<void> {
    if (cred.kind === 'token' && cred.token !== undefined) {
      await this.d.tokens.authenticate(cred.token);
    } else if (cred.certNotAfterMs !== undefined && this.d.clock.now() >= cred.certNotAfterMs) {
      throw new AuthError('cert-expired', `the certificate this stream was opened with expired at ${new Date(cred.certNotAfterMs).toISOString()}; reconnect with a token`);
    }
  }

  #response(issued: IssuedCert | undefined): SecretResponse {
    const bundle = this.d.trust.bundle();
    return {
      version_info: issued ? `${issued.serialHex}/${bundle.version}` : bundle.version,
      nonce: randomBytes(8).toString('hex'),
      certificate: issued
        ? { pem: issued.chainPem, serial_hex: issued.serialHex, not_before_unix_ms: issued.notBeforeMs, not_after_unix_ms: issued.notAfterMs }
        : null,
      trust_bundle: bundle,
    };
  }

  #fail(call: SecretStreamServer, conn: ProxyConnection | undefined, e: unknown): void {
    if (e instanceof AuthError) {
      this.d.metrics.authFailures.inc({ reason: e.reason });
      this.d.log.warn({ reason: e.reason, peer: call.getPeer(), err: e.message }, 'secret stream refused');
    } else if (!(e instanceof CsrRefusedError)) {
      this.d.log.error({ err: asError(e), stream: conn?.streamId }, 'secret stream failed');
    }
    call.emit('error', toStatus(e));
  }
}
