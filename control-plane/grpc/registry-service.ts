import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logging.js';
import type { RegistryRequest, RegistryStreamServer } from '../../shared/registry-types.js';
import { AuthError, authenticatePeerCertificate } from '../auth/index.js';
import { validateRegistration, workloadKey, RegistrationRefusedError, type ServiceRegistry, type RegistrySnapshot, type RegistryPersistence } from '../registry/index.js';
import type { TrustSource } from './secret-service.js';
import { toStatus } from './status-map.js';

export interface RegistryServiceDeps {
  readonly trustDomain: string;
  readonly trust: TrustSource;
  readonly registry: ServiceRegistry;
  readonly persistence: RegistryPersistence;
  readonly clock: Clock;
  readonly log: Logger;
}

/** The server side of Registry.Watch: register on the first request, push snapshots, deregister on close. */
export class RegistryService {
  #nextStream = 1;

  constructor(private readonly d: RegistryServiceDeps) {}

  readonly handle = (call: RegistryStreamServer): void => {
    const peerCert = call.getAuthContext()?.sslPeerCertificate;
    let identity;
    try {
      if (!peerCert?.raw) throw new AuthError('no-credential', 'the registry needs the workload certificate over mTLS');
      identity = authenticatePeerCertificate(peerCert.raw, this.d.trust.issuers(), this.d.trustDomain, this.d.clock).identity;
    } catch (e) {
      this.d.log.warn({ peer: call.getPeer(), err: e instanceof Error ? e.message : String(e) }, 'registry stream refused');
      call.emit('error', toStatus(e));
      return;
    }
    const streamId = this.#nextStream++;
    const log = this.d.log.child({ stream: streamId, namespace: identity.namespace, serviceAccount: identity.serviceAccount });
    let registered: string | undefined;
    let lastSent: string | undefined;
    const push = (snap: RegistrySnapshot): void => {
      if (snap.version === lastSent) return;
      lastSent = snap.version;
      call.write({ version_info: snap.version, nonce: randomBytes(8).toString('hex'), services: [...snap.services] });
    };
    const onChanged = (snap: RegistrySnapshot): void => push(snap);
    const close = (): void => {
      this.d.registry.off('changed', onChanged);
      if (registered !== undefined) {
        const key = registered;
        registered = undefined;
        if (this.d.registry.deregister(key, streamId)) {
          this.d.persistence.removed(key);
          log.info('workload deregistered');
        }
      }
    };
    call.on('data', (req: RegistryRequest) => {
      if (req.error_detail?.message) {
        log.warn({ version: req.version_info, error: req.error_detail }, 'proxy NACKed a registry snapshot');
        return;
      }
      if (registered !== undefined || !req.workload) return;
      try {
        const reg = validateRegistration(req.workload, identity);
        const key = workloadKey(reg);
        this.d.registry.register(key, streamId, reg);
        this.d.persistence.saved(key, reg);
        registered = key;
        log.info({ services: reg.services, ports: reg.ports.map((p) => p.port) }, 'workload registered');
        this.d.registry.on('changed', onChanged);
        push(this.d.registry.snapshot());
      } catch (e) {
        if (e instanceof RegistrationRefusedError) log.warn({ reason: e.reason, err: e.message }, 'registration refused');
        call.emit('error', toStatus(e));
        close();
      }
    });
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('cancelled', close);
    call.on('error', close);
  };
}
