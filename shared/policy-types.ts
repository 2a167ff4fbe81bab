// Plain shapes of shared/proto/policy.proto as proto-loader delivers them.
import * as grpc from '@grpc/grpc-js';
import { loadProto } from './proto/load.js';
import type { ErrorDetail } from './secret-types.js';

export interface PolicyWorkloadMsg {
  id: string;
  labels: Record<string, string>;
  ports: number[];
  services: string[];
}
export interface PolicyRequest {
  workload?: PolicyWorkloadMsg | null;
  version_info?: string;
  response_nonce?: string;
  error_detail?: ErrorDetail | null;
}
export interface PolicyResponse {
  version_info: string;
  nonce: string;
  policy_json: string;
  revision: number;
}

export type PolicyStreamServer = grpc.ServerDuplexStream<PolicyRequest, PolicyResponse>;
export type PolicyStreamClient = grpc.ClientDuplexStream<PolicyRequest, PolicyResponse>;

interface PolicyPackage {
  mtlsmesh: { v1: { PolicyDiscovery: grpc.ServiceClientConstructor } };
}

let cached: grpc.ServiceClientConstructor | undefined;
export function policyDiscovery(): grpc.ServiceClientConstructor {
  cached ??= (loadProto('policy.proto') as unknown as PolicyPackage).mtlsmesh.v1.PolicyDiscovery;
  return cached;
}
