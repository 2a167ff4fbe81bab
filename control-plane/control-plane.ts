import { join } from 'node:path';
import type { Clock } from '../shared/clock.js';
import { componentLogger, type Logger } from '../shared/logging.js';
import { ensurePrivateDir } from '../shared/crash-safe-file.js';
import { FileStore, type Store } from './store/index.js';
import { BootstrapTokens, loadOrCreateAdminToken } from './auth/index.js';
import { Issuer, loadOrCreateCa, caLevels } from './ca/index.js';
import { ControlPlaneMetrics } from './metrics.js';
import { Connections } from './grpc/connections.js';
import { ServingCertificates } from './grpc/tls-provider.js';
import { SecretService } from './grpc/secret-service.js';
import { startGrpcServer } from './grpc/server.js';
import { RegistryService } from './grpc/registry-service.js';
import { PolicyService } from './grpc/policy-service.js';
import { PolicyStore } from './policy/policy-store.js';
import { ServiceRegistry, RegistryPersistence } from './registry/index.js';
import { buildApi } from './api/server.js';
import { TrustState } from './trust-state.js';
import { ServingIdentity } from './serving-identity.js';
import type { ControlPlaneConfig } from './config.js';

export interface RunningControlPlane {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly adminToken: string;
  readonly trust: TrustState;
  readonly connections: Connections;
  readonly registry: ServiceRegistry;
  readonly policies: PolicyStore;
  readonly policyService: PolicyService;
  readonly metrics: ControlPlaneMetrics;
  stop(): Promise<void>;
}

/** Wires the control plane together and starts its listeners. Fails (and starts nothing) on bad CA material. */
export async function startControlPlane(cfg: ControlPlaneConfig, clock: Clock, root: Logger): Promise<RunningControlPlane> {
  await ensurePrivateDir(cfg.dataDir);
  const ca = await loadOrCreateCa(
    join(cfg.dataDir, 'ca'),
    { trustDomain: cfg.trustDomain, rootTtlMs: cfg.rootTtlMs, issuingTtlMs: cfg.issuingTtlMs, clock },
    componentLogger(root, 'ca'),
  );
  const adminToken = await loadOrCreateAdminToken(cfg.dataDir);
  const store: Store = await FileStore.open(join(cfg.dataDir, 'store'));
  const metrics = new ControlPlaneMetrics();
  metrics.setCaLevels(caLevels(ca));
  const issuer = new Issuer(ca, { trustDomain: cfg.trustDomain, defaultTtlMs: cfg.workloadTtlMs, maxTtlMs: cfg.maxWorkloadTtlMs, clock });
  const trust = new TrustState(cfg.trustDomain, ca);
  const tokens = new BootstrapTokens(store, clock, cfg.trustDomain);
  const connections = new Connections();
  const certs = new ServingCertificates();
  const serving = new ServingIdentity(issuer, certs, () => trust.bundle().root_pem, cfg.trustDomain, cfg.grpcListen.host, clock, componentLogger(root, 'serving-identity'));
  serving.start();

  const secrets = new SecretService({
    trustDomain: cfg.trustDomain,
    tokens,
    signer: issuer,
    trust,
    connections,
    metrics,
    clock,
    log: componentLogger(root, 'secret-stream'),
  });
  const registry = new ServiceRegistry();
  const registryLog = componentLogger(root, 'registry');
  const persistence = new RegistryPersistence(store, registry, clock, registryLog);
  await persistence.restore();
  const registryService = new RegistryService({ trustDomain: cfg.trustDomain, trust, registry, persistence, clock, log: registryLog });
  const policies = await PolicyStore.open(store, clock);
  const policyService = new PolicyService({ trustDomain: cfg.trustDomain, rootNamespace: cfg.rootNamespace, trust, policies, metrics, clock, log: componentLogger(root, 'policy') });
  const grpcServer = await startGrpcServer(cfg.grpcListen, certs, secrets, registryService, policyService);
  const api = buildApi({ adminToken, tokens, trust, metrics, policies,
    policyService,
    registry,
    rootNamespace: cfg.rootNamespace,
    now: () => clock.now(),
    certsToWatch: () => [
      ...caLevels(ca).map((l) => ({ level: l.level, name: l.subject, serialHex: l.serialHex, notAfterMs: l.notAfterMs })),
      ...connections.all().flatMap((c) => (c.certSerial && c.certNotAfterMs ? [{ level: 'workload' as const, name: c.node?.id || `${c.identity.namespace}/${c.identity.serviceAccount}`, serialHex: c.certSerial, notAfterMs: c.certNotAfterMs }] : [])),
    ], log: componentLogger(root, 'api'), ready: () => true });
  try {
    await api.listen({ host: cfg.httpListen.host, port: cfg.httpListen.port });
  } catch (e) {
    await grpcServer.close();
    serving.stop();
    throw e;
  }
  const addr = api.server.address();
  const httpPort = typeof addr === 'object' && addr ? addr.port : cfg.httpListen.port;
  componentLogger(root, 'control-plane').info(
    { grpcPort: grpcServer.port, httpPort, trustDomain: cfg.trustDomain, dataDir: cfg.dataDir },
    'control plane ready',
  );

  return {
    grpcPort: grpcServer.port,
    httpPort,
    adminToken,
    trust,
    connections,
    registry,
    policies,
    policyService,
    metrics,
    async stop() {
      serving.stop();
      await persistence.stop();
      await Promise.all([grpcServer.close(), api.close()]);
      await store.close();
    },
  };
}
