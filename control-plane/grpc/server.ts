import * as grpc from '@grpc/grpc-js';
import { createServer, type AddressInfo } from 'node:net';
import { formatHostPort, type HostPort } from '../../shared/config-check.js';
import { secretDiscovery } from '../../shared/secret-types.js';
import { registryService } from '../../shared/registry-types.js';
import { policyDiscovery } from '../../shared/policy-types.js';
import { MeshError } from '../../shared/errors.js';
import type { ServingCertificates } from './tls-provider.js';
import type { SecretService } from './secret-service.js';
import type { RegistryService } from './registry-service.js';
import type { PolicyService } from './policy-service.js';

export class ListenError extends MeshError {
  readonly code = 'MESH_ERR_LISTEN';
  constructor(readonly address: string, cause: unknown) {
    super(`cannot listen on ${address}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Room for a whole fleet connecting at once (the kernel caps it at net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;

export interface GrpcServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The gRPC listener: TLS always. Client certificates are requested but not required, because a
 * bootstrapping proxy has none yet; the services authenticate every stream themselves.
 */
export async function startGrpcServer(listen: HostPort, certs: ServingCertificates, secrets: SecretService, registry: RegistryService, policy: PolicyService): Promise<GrpcServer> {
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': 1024 * 1024,
  });
  server.addService(secretDiscovery().service, { StreamSecrets: secrets.handle });
  server.addService(registryService().service, { Watch: registry.handle });
  server.addService(policyDiscovery().service, { StreamPolicy: policy.handle });
  const creds = grpc.experimental.createCertificateProviderServerCredentials(certs, certs, false);
  const address = formatHostPort(listen);
  // Our own listener feeds grpc-js: its bindAsync listens with Node's default backlog (511), and a fleet
  // reconnecting at once after a restart overflows it (measured: 1.5k drops for 2000 proxies, each then
  // waiting seconds to retry).
  const injector = server.createConnectionInjector(creds);
  const tcp = createServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
  const port = await new Promise<number>((resolve, reject) => {
    tcp.once('error', (err) => reject(new ListenError(address, err)));
    tcp.listen({ host: listen.host, port: listen.port, backlog: LISTEN_BACKLOG }, () => resolve((tcp.address() as AddressInfo).port));
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        tcp.close();
        // Streams are long-lived: give them a moment to end, then cut them.
        injector.drain(2000);
        const t = setTimeout(() => {
          injector.destroy();
          server.forceShutdown();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          injector.destroy();
          resolve();
        });
      }),
  };
}
