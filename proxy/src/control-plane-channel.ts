import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { controlPlaneSpiffeId } from '../../shared/spiffe.js';
import { checkControlPlane } from './identity/secret-session.js';
import type { IdentitySnapshot } from './identity/snapshot.js';

/** Channel options for every stream to the control plane. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // The control plane is authenticated by SPIFFE ID; a fixed name keeps TLS from sending an IP as SNI.
  'grpc.ssl_target_name_override': 'mesh-control-plane',
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
};

/** mTLS to the control plane with the workload's current certificate; the server must be the control plane's SPIFFE ID. */
export function mtlsCredentials(snap: IdentitySnapshot, bootstrapRootsPem: string, trustDomain: string): grpc.ChannelCredentials {
  const expected = controlPlaneSpiffeId(trustDomain);
  return grpc.credentials.createSsl(Buffer.from([bootstrapRootsPem, ...snap.rootsPem].join('\n')), Buffer.from(snap.privateKeyPem), Buffer.from(snap.chainPem.join('')), {
    checkServerIdentity: (_h: string, cert: PeerCertificate) => checkControlPlane(cert, expected),
  });
}
