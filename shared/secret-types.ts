// Plain shapes of shared/proto/secret.proto as proto-loader delivers them (keepCase, longs as Number, defaults).
import * as grpc from '@grpc/grpc-js';
import { loadProto } from './proto/load.js';

export interface NodeInfo {
  id: string;
  namespace: string;
  service_account: string;
  proxy_version: string;
}
export interface ErrorDetail {
  code: string;
  message: string;
}
export interface SecretRequest {
  node?: NodeInfo | null;
  version_info?: string;
  response_nonce?: string;
  error_detail?: ErrorDetail | null;
  csr_pem?: string;
  requested_ttl_seconds?: number;
}
export interface CertificateChainMsg {
  pem: string[];
  serial_hex: string;
  not_before_unix_ms: number;
  not_after_unix_ms: number;
}
export interface TrustBundleMsg {
  trust_domain: string;
  root_pem: string[];
  version: string;
}
export interface SecretResponse {
  version_info: string;
  nonce: string;
  certificate?: CertificateChainMsg | null;
  trust_bundle?: TrustBundleMsg | null;
}

export type SecretStreamServer = grpc.ServerDuplexStream<SecretRequest, SecretResponse>;
export type SecretStreamClient = grpc.ClientDuplexStream<SecretRequest, SecretResponse>;

export const MESH_ALPN = 'mtls-mesh';

interface SecretPackage {
  mtlsmesh: { v1: { SecretDiscovery: grpc.ServiceClientConstructor } };
}

let cached: grpc.ServiceClientConstructor | undefined;
/** The generated client constructor; its `.service` is the definition the server adds. */
export function secretDiscovery(): grpc.ServiceClientConstructor {
  cached ??= (loadProto('secret.proto') as unknown as SecretPackage).mtlsmesh.v1.SecretDiscovery;
  return cached;
}
