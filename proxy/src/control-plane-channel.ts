import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { controlPlaneSpiffeId } from '../../shared/spiffe.js';
import type { IdentitySnapshot } from './identity/snapshot.js';

/** Channel options for every stream to the control plane. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // The control plane is authenticated by SPIFFE ID; a fixed name keeps TLS from sending an IP as SNI.
  'grpc.ssl_target_name_override': 'mesh-control-plane',
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.initial_reconnect_backoff_ms': 500,
};

/** Secure naming for the control plane: its certificate must carry its SPIFFE ID; hostnames do not matter. */
export function checkControlPlane(cert: PeerCertificate, expected: string): Error | undefined {
  const sans = (cert.subjectaltname ?? '').split(', ');
  if (sans.includes(`URI:${expected}`)) return undefined;
  return new Error(`control plane certificate does not carry ${expected} (has ${cert.subjectaltname ?? 'no SAN'})`);
}

/** TLS to the control plane, verified against `rootsPem`; with a key and chain, mTLS as this workload. */
export function controlPlaneCredentials(rootsPem: string, trustDomain: string, keyPem?: string, chainPem?: string): grpc.ChannelCredentials {
  const expected = controlPlaneSpiffeId(trustDomain);
  return grpc.credentials.createSsl(Buffer.from(rootsPem), keyPem ? Buffer.from(keyPem) : null, chainPem ? Buffer.from(chainPem) : null, {
    checkServerIdentity: (_h: string, cert: PeerCertificate) => checkControlPlane(cert, expected),
  });
}

/** mTLS with the workload's current certificate, trusting the bootstrap roots and the current bundle. */
export function mtlsCredentials(snap: IdentitySnapshot, bootstrapRootsPem: string, trustDomain: string): grpc.ChannelCredentials {
  return controlPlaneCredentials([bootstrapRootsPem, ...snap.rootsPem].join('\n'), trustDomain, snap.privateKeyPem, snap.chainPem.join(''));
}
