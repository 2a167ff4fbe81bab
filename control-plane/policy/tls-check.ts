import { clientTlsFor, resolveWorkloadPolicy } from '../../shared/policy/index.js';
import type { MtlsMode, PolicyObject } from '../../shared/policy/types.js';
import type { Registration } from '../registry/index.js';

export interface TlsCheckCaller {
  readonly workload: string;
  readonly namespace: string;
  readonly spiffeId: string;
  /** What the caller's sidecar will send: from a DestinationRule, or auto mTLS. */
  readonly clientTls: 'ISTIO_MUTUAL' | 'DISABLE';
  readonly source: 'DestinationRule' | 'auto';
  readonly result: 'OK' | 'CONFLICT';
  readonly detail: string;
}

export interface TlsCheckPort {
  readonly port: number;
  readonly serverMode: MtlsMode;
  readonly callers: readonly TlsCheckCaller[];
  /** What a client without a sidecar (plaintext) gets. */
  readonly plaintextClients: 'accepted' | 'refused';
}

export interface TlsCheckResult {
  readonly workload: string;
  readonly namespace: string;
  readonly spiffeId: string;
  readonly services: readonly string[];
  readonly ports: readonly TlsCheckPort[];
  readonly conflicts: number;
}

const short = (services: readonly string[]): string[] => services.map((s) => s.split('.')[0] ?? s);

/**
 * The server's effective mode per port against the client TLS mode each registered caller will use, and a
 * CONFLICT where they disagree: a STRICT (or DISABLE) server and a client sending plaintext (or mTLS).
 */
export function tlsCheck(objects: readonly PolicyObject[], target: Registration, callers: readonly Registration[], rootNamespace: string, onlyPort?: number): TlsCheckResult {
  const server = resolveWorkloadPolicy(objects, { namespace: target.namespace, labels: target.labels, ports: target.ports.map((p) => p.port), services: short(target.services) }, { rootNamespace });
  const ports = target.ports.filter((p) => onlyPort === undefined || p.port === onlyPort).map((p): TlsCheckPort => {
    const serverMode = server.portModes[String(p.port)] ?? server.inboundMode;
    const rows = callers
      .filter((c) => c.spiffeId !== target.spiffeId || c.workloadId !== target.workloadId)
      .map((c): TlsCheckCaller => {
        const own = resolveWorkloadPolicy(objects, { namespace: c.namespace, labels: c.labels, ports: c.ports.map((q) => q.port), services: short(c.services) }, { rootNamespace });
        const byRule = target.services.map((s) => clientTlsFor(own.clientTls, s, p.port, c.namespace)).find((m) => m !== undefined);
        const clientTls = byRule ?? 'ISTIO_MUTUAL';
        const conflict =
          serverMode === 'STRICT' && clientTls === 'DISABLE'
            ? 'the server is STRICT and this client sends plaintext: it is refused'
            : serverMode === 'DISABLE' && clientTls === 'ISTIO_MUTUAL'
              ? 'the server is DISABLE and this client sends mTLS: it is refused'
              : undefined;
        return {
          workload: c.workloadId,
          namespace: c.namespace,
          spiffeId: c.spiffeId,
          clientTls,
          source: byRule ? 'DestinationRule' : 'auto',
          result: conflict ? 'CONFLICT' : 'OK',
          detail: conflict ?? (clientTls === 'ISTIO_MUTUAL' ? 'mTLS' : 'plaintext'),
        };
      });
    return { port: p.port, serverMode, callers: rows, plaintextClients: serverMode === 'STRICT' ? 'refused' : 'accepted' };
  });
  return {
    workload: target.workloadId,
    namespace: target.namespace,
    spiffeId: target.spiffeId,
    services: target.services,
    ports,
    conflicts: ports.reduce((n, p) => n + p.callers.filter((c) => c.result === 'CONFLICT').length, 0),
  };
}
