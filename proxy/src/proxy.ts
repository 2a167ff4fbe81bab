import { readFile } from 'node:fs/promises';
import type { LevelWithSilent } from 'pino';
import type { Clock } from '../../shared/clock.js';
import { componentLogger, type Logger } from '../../shared/logging.js';
import { ConfigInvalidError, errnoCode } from '../../shared/errors.js';
import { formatHostPort } from '../../shared/config-check.js';
import type { ServiceEntryMsg, ServicePortMsg } from '../../shared/registry-types.js';
import type { ProxyConfig } from './config.js';
import { IdentityManager, type RotationEvent, type RotationFailure } from './identity/identity-manager.js';
import { RegistryClient } from './registry/registry-client.js';
import { RegistryResolver } from './registry/resolver.js';
import { ProxyEvents, logProxyEvents } from './events.js';
import { ProxyMetrics } from './metrics.js';
import { TlsContexts } from './tls-contexts.js';
import { CoarseTimer } from './coarse-timer.js';
import { InboundListener } from './inbound.js';
import { UpstreamListener, HttpProxyListener, type OutboundOptions } from './outbound.js';
import { startAdmin, type AdminListener } from './admin.js';
import type { TcpListener } from './listener.js';
import { PolicyState, parseResolvedPolicy, policyDecideOutbound } from './policy/index.js';
import { PolicyClient } from './policy-stream/policy-client.js';

export const PROXY_VERSION = '0.1.0';

/** A line for scripts and the local-mesh launcher: `{"event":"listening"|"ready"|"rotated"|…}`. */
export type EmitEvent = (event: Record<string, unknown> & { event: string }) => void;

export interface RunningProxy {
  readonly identity: IdentityManager;
  readonly adminPort: number;
  stop(): Promise<void>;
}

/**
 * Wires the sidecar together: identity (secret stream), registry, TLS contexts, listeners and the admin
 * API. Listeners come up first so their addresses can be registered; traffic flows once the identity is there.
 */
export async function startProxy(cfg: ProxyConfig, clock: Clock, random: () => number, root: Logger, emit: EmitEvent, onQuit: () => void): Promise<RunningProxy> {
  const loggers: Logger[] = [root];
  const log = (component: string): Logger => {
    const l = componentLogger(root, component);
    loggers.push(l);
    return l;
  };
  let rootsPem: string;
  try {
    rootsPem = await readFile(cfg.rootCertFile, 'utf8');
  } catch (e) {
    throw new ConfigInvalidError([`--root-cert: cannot read ${cfg.rootCertFile} (${errnoCode(e) ?? String(e)})`]);
  }
  if (!rootsPem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigInvalidError([`--root-cert: ${cfg.rootCertFile} holds no PEM certificate`]);

  const workload = { trustDomain: cfg.trustDomain, namespace: cfg.namespace, serviceAccount: cfg.serviceAccount };
  const identity = new IdentityManager({
    controlPlane: cfg.controlPlane,
    bootstrapRootsPem: rootsPem,
    tokenFile: cfg.tokenFile,
    identity: workload,
    dnsNames: cfg.services.map((s) => (s.includes('.') ? `${s}.svc` : `${s}.${cfg.namespace}.svc`)),
    requestedTtlMs: cfg.workloadTtlMs,
    nodeId: cfg.nodeId,
    proxyVersion: PROXY_VERSION,
    responseTimeoutMs: 30_000,
    clock,
    random,
    log: log('identity'),
  });
  const events = new ProxyEvents();
  const metrics = new ProxyMetrics({ clock, snapshot: () => identity.current() });
  metrics.attach(events);
  logProxyEvents(events, log('traffic'));
  const contexts = new TlsContexts(identity);
  const timer = new CoarseTimer(clock);
  const timeouts = { handshakeMs: cfg.handshakeTimeoutMs, idleMs: cfg.idleTimeoutMs };

  const policy = new PolicyState();
  const listeners: TcpListener[] = [];
  const inboundLog = log('inbound');
  const inbound = cfg.inbound.map((i) => {
    const l = new InboundListener({
      port: { listenHost: i.listen.host, listenPort: i.listen.port, appHost: i.app.host, appPort: i.app.port, servicePort: i.servicePort, http: i.protocol === 'http', name: `inbound:${i.servicePort}` },
      contexts,
      policy,
      events,
      timer,
      timeouts,
      logger: inboundLog,
    });
    listeners.push(l);
    return { spec: i, listener: l };
  });

  const resolver = new RegistryResolver(cfg.namespace, cfg.outboundPolicy);
  const outbound: OutboundOptions = { contexts, resolver, events, timer, timeouts, logger: log('outbound'), decideOutbound: policyDecideOutbound(policy, cfg.namespace) };
  const upstreams = cfg.upstreams.map((u) => {
    const l = new UpstreamListener({ listenHost: u.listen.host, listenPort: u.listen.port, service: u.host, servicePort: u.port }, outbound);
    listeners.push(l);
    return { spec: u, listener: l };
  });
  const httpProxy = cfg.outboundListen ? new HttpProxyListener({ ...outbound, listenHost: cfg.outboundListen.host, listenPort: cfg.outboundListen.port, name: 'http-proxy' }) : undefined;
  if (httpProxy) listeners.push(httpProxy);

  try {
    await Promise.all(listeners.map((l) => l.listen()));
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close(true)));
    throw e;
  }

  const ports: ServicePortMsg[] = inbound.map(({ spec, listener }) => ({
    port: spec.servicePort,
    protocol: spec.protocol,
    inbound_address: formatHostPort({ host: advertised(cfg.advertiseHost, spec.listen.host), port: listener.port }),
  }));
  const registry = new RegistryClient({
    controlPlane: cfg.controlPlane,
    bootstrapRootsPem: rootsPem,
    workload: { id: cfg.nodeId, services: [...cfg.services], labels: { ...cfg.labels }, ports },
    identity,
    trustDomain: cfg.trustDomain,
    clock,
    random,
    log: log('registry'),
  });
  let registrySynced = false;
  registry.on('services', (services: readonly ServiceEntryMsg[]) => {
    resolver.update(services);
    if (!registrySynced) {
      registrySynced = true;
      maybeReady();
    }
  });
  registry.on('refused', (err: Error) => emit({ event: 'registration-refused', error: err.message }));

  const policyLog = log('policy');
  const policyClient = new PolicyClient({
    controlPlane: cfg.controlPlane,
    bootstrapRootsPem: rootsPem,
    workload: { id: cfg.nodeId, labels: { ...cfg.labels }, ports: cfg.inbound.map((i) => i.servicePort), services: cfg.services.map((s) => s.split('.')[0] ?? s) },
    identity,
    trustDomain: cfg.trustDomain,
    apply: (json, version) => policy.apply(parseResolvedPolicy(json), version),
    clock,
    random,
    log: policyLog,
  });
  policyClient.on('applied', (version: string) => {
    emit({ event: 'policy-applied', version });
    maybeReady();
  });
  policyClient.on('rejected', (r: { version: string; error: string }) => emit({ event: 'policy-rejected', ...r }));

  // The registry and the policy count for readiness like listeners: a client sidecar that does not know where
  // services are yet would answer its app's first requests with 502.
  const registryGate: AdminListener = {
    name: 'registry',
    get listening() {
      return registrySynced;
    },
    describe: () => ({ name: 'registry', synced: registrySynced, version: registry.version, connected: registry.connected, services: registry.services }),
  };
  // Serving before the first policy would run PERMISSIVE where the operator asked for STRICT.
  const policyGate: AdminListener = {
    name: 'policy',
    get listening() {
      return policyClient.synced;
    },
    describe: () => ({ name: 'policy', synced: policyClient.synced, ...policy.describe() }),
  };

  const admin = await startAdmin({
    host: cfg.adminListen.host,
    port: cfg.adminListen.port,
    metrics,
    snapshot: () => identity.current(),
    listeners: () => [...listeners, registryGate, policyGate],
    logger: root,
    setLogLevel: (level: LevelWithSilent) => {
      for (const l of loggers) l.level = level;
    },
    onQuit,
    clock,
    configDump: () => ({
      workload: { ...workload, spiffeId: identity.spiffeId, services: cfg.services, labels: cfg.labels },
      controlPlane: cfg.controlPlane,
      rotation: { dueAt: identity.rotationDueAtMs === undefined ? null : new Date(identity.rotationDueAtMs).toISOString() },
      outboundPolicy: cfg.outboundPolicy,
    }),
  });

  let readyEmitted = false;
  function maybeReady(): void {
    const snap = identity.current();
    if (readyEmitted || !snap || !registrySynced || !policyClient.synced) return;
    readyEmitted = true;
    emit({ event: 'ready', spiffeId: snap.spiffeId, serial: snap.serialHex, notAfter: new Date(snap.notAfterMs).toISOString() });
  }
  identity.on('rotated', (ev: RotationEvent) => {
    metrics.recordRotation('success');
    emit({ event: 'rotated', serial: ev.serialHex, previousSerial: ev.previousSerialHex ?? null, notAfter: new Date(ev.notAfterMs).toISOString(), credential: ev.credential });
    maybeReady();
  });
  identity.on('rotation-failed', (f: RotationFailure) => {
    // Failures before the first certificate are "not ready yet", not failed rotations.
    if (identity.current()) metrics.recordRotation('failure');
    emit({ event: 'rotation-failed', error: f.error.message, retryInMs: f.retryInMs });
  });

  emit({
    event: 'listening',
    admin: admin.address.port,
    inbound: inbound.map(({ spec, listener }) => ({ servicePort: spec.servicePort, address: formatHostPort({ host: advertised(cfg.advertiseHost, spec.listen.host), port: listener.port }) })),
    upstreams: upstreams.map(({ spec, listener }) => ({ target: `${spec.host}:${spec.port}`, port: listener.port })),
    outbound: httpProxy?.port ?? null,
  });
  identity.start();
  registry.start();
  policyClient.start();

  return {
    identity,
    adminPort: admin.address.port,
    async stop() {
      identity.stop();
      registry.stop();
      policyClient.stop();
      await Promise.all(listeners.map((l) => l.close(true)));
      await admin.close();
      timer.close();
      contexts.close();
    },
  };
}

/** Other proxies cannot dial 0.0.0.0: advertise the given host, else loopback for a wildcard listen. */
function advertised(advertiseHost: string | undefined, listenHost: string): string {
  if (advertiseHost) return advertiseHost;
  return listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost;
}
