/** SPIFFE IDs of workloads: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>. */
export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

// Kubernetes DNS-1123 labels for namespaces; service accounts are DNS-1123 subdomains.
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const TRUST_DOMAIN_RE = /^[a-z0-9]([-a-z0-9._]{0,253}[a-z0-9])?$/;

export function isValidNamespace(s: string): boolean {
  return NAMESPACE_RE.test(s);
}
export function isValidServiceAccount(s: string): boolean {
  return SERVICE_ACCOUNT_RE.test(s);
}
export function isValidTrustDomain(s: string): boolean {
  return TRUST_DOMAIN_RE.test(s);
}

export function spiffeId(id: WorkloadIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parses a workload SPIFFE ID; undefined for anything that is not exactly that shape. */
export function parseSpiffeId(uri: string): WorkloadIdentity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const [, trustDomain = '', namespace = '', serviceAccount = ''] = m;
  if (!isValidTrustDomain(trustDomain) || !isValidNamespace(namespace) || !isValidServiceAccount(serviceAccount)) {
    return undefined;
  }
  return { trustDomain, namespace, serviceAccount };
}

/** The control plane's own identity; proxies accept the gRPC server only if it presents this ID. */
export const CONTROL_PLANE_NAMESPACE = 'mesh-system';
export const CONTROL_PLANE_SERVICE_ACCOUNT = 'mesh-control-plane';
export function controlPlaneSpiffeId(trustDomain: string): string {
  return spiffeId({ trustDomain, namespace: CONTROL_PLANE_NAMESPACE, serviceAccount: CONTROL_PLANE_SERVICE_ACCOUNT });
}
