// Plain shapes of shared/proto/registry.proto as proto-loader delivers them (keepCase, longs as Number, defaults).
import * as grpc from '@grpc/grpc-js';
import { loadProto } from './proto/load.js';
import type { ErrorDetail } from './secret-types.js';

export interface ServicePortMsg {
  port: number;
  protocol: string;
  inbound_address: string;
}
export interface WorkloadMsg {
  id: string;
  services: string[];
  labels: Record<string, string>;
  ports: ServicePortMsg[];
}
export interface RegistryRequest {
  workload?: WorkloadMsg | null;
  version_info?: string;
  response_nonce?: string;
  error_detail?: ErrorDetail | null;
}
export interface EndpointMsg {
  address: string;
  port: number;
  spiffe_id: string;
  has_sidecar: boolean;
  workload_id: string;
}
export interface ServiceEntryMsg {
  name: string;
  ports: ServicePortMsg[];
  endpoints: EndpointMsg[];
  spiffe_ids: string[];
}
export interface RegistryResponse {
  version_info: string;
  nonce: string;
  services: ServiceEntryMsg[];
}

export type RegistryStreamServer = grpc.ServerDuplexStream<RegistryRequest, RegistryResponse>;
export type RegistryStreamClient = grpc.ClientDuplexStream<RegistryRequest, RegistryResponse>;

interface RegistryPackage {
  mtlsmesh: { v1: { Registry: grpc.ServiceClientConstructor } };
}

let cached: grpc.ServiceClientConstructor | undefined;
export function registryService(): grpc.ServiceClientConstructor {
  cached ??= (loadProto('registry.proto') as unknown as RegistryPackage).mtlsmesh.v1.Registry;
  return cached;
}
