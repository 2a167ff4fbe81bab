import * as grpc from '@grpc/grpc-js';
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
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, creds, (err, p) => (err ? reject(new ListenError(address, err)) : resolve(p)));
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // Streams are long-lived: give them a moment to end, then cut them.
        const t = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
