import { generateKeyPairSync } from 'node:crypto';
import { isIP } from 'node:net';
import type { Clock, Timer } from '../shared/clock.js';
import type { Logger } from '../shared/logging.js';
import { controlPlaneSpiffeId, CONTROL_PLANE_NAMESPACE, CONTROL_PLANE_SERVICE_ACCOUNT } from '../shared/spiffe.js';
import { asError } from '../shared/errors.js';
import type { Issuer } from './ca/index.js';
import type { ServingCertificates } from './grpc/tls-provider.js';

const SERVING_TTL_MS = 24 * 3_600_000;
const RETRY_MS = 60_000;

/**
 * The control plane's own TLS identity for its gRPC listener, issued from its CA and renewed at 80%
 * of its life like any workload's. Proxies check its SPIFFE ID, not a hostname.
 */
export class ServingIdentity {
  #timer: Timer | undefined;

  constructor(
    private readonly issuer: Issuer,
    private readonly certs: ServingCertificates,
    private readonly roots: () => readonly string[],
    private readonly trustDomain: string,
    private readonly listenHost: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.#renew();
  }
  stop(): void {
    this.#timer?.cancel();
  }

  #renew(): void {
    try {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const ips = ['127.0.0.1', '::1'];
      if (isIP(this.listenHost) && !ips.includes(this.listenHost)) ips.push(this.listenHost);
      const issued = this.issuer.issueServing({
        publicKey,
        uri: controlPlaneSpiffeId(this.trustDomain),
        dnsNames: ['localhost', CONTROL_PLANE_SERVICE_ACCOUNT, `${CONTROL_PLANE_SERVICE_ACCOUNT}.${CONTROL_PLANE_NAMESPACE}.svc`],
        ipAddresses: ips.filter((ip) => isIP(ip) !== 0),
        ttlMs: SERVING_TTL_MS,
      });
      this.certs.update(issued.chainPem, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), this.roots());
      const at = issued.notBeforeMs + 0.8 * (issued.notAfterMs - issued.notBeforeMs);
      this.#timer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => this.#renew());
      this.log.info({ serial: issued.serialHex, notAfter: new Date(issued.notAfterMs).toISOString() }, 'serving certificate issued');
    } catch (e) {
      this.log.error({ err: asError(e) }, 'cannot issue the serving certificate; retrying');
      this.#timer = this.clock.setTimer(RETRY_MS, () => this.#renew());
    }
  }
}
