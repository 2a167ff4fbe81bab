// The policy model shared by the control plane (store, validation, resolution) and the proxy
// (enforcement). Istio-compatible shapes: see ../shared/DESIGN.md "Policy model".

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';
export type StoredMtlsMode = MtlsMode | 'UNSET';
export type ClientTlsMode = 'ISTIO_MUTUAL' | 'DISABLE';
export type AuthzAction = 'ALLOW' | 'DENY';

export type PolicyKind = 'PeerAuthentication' | 'DestinationRule' | 'AuthorizationPolicy';

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A validated policy object as stored (legacy MeshPolicy/Policy already translated to PeerAuthentication). */
export interface PeerAuthentication {
  readonly kind: 'PeerAuthentication';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly selector?: { readonly matchLabels: Readonly<Record<string, string>> };
    readonly mtls?: { readonly mode: StoredMtlsMode };
    readonly portLevelMtls?: Readonly<Record<string, { readonly mode: StoredMtlsMode }>>;
    /**
     * Only in objects translated from a legacy `authentication.istio.io/v1alpha1` `Policy` with
     * `spec.targets`: short names of services in this namespace. Workload level, like `selector`: it
     * selects the workloads that back one of these services (see `resolveWorkloadPolicy`'s `services`).
     */
    readonly targets?: readonly { readonly name: string }[];
  };
}

export interface DestinationRule {
  readonly kind: 'DestinationRule';
  readonly metadata: ObjectMeta;
  readonly spec: {
    /** Exact `name.ns[.svc[.cluster.local]]`, short `name` (the rule's namespace), or `*.suffix` / `*`. */
    readonly host: string;
    readonly trafficPolicy?: {
      readonly tls?: { readonly mode: ClientTlsMode };
      readonly portLevelSettings?: readonly { readonly port: { readonly number: number }; readonly tls?: { readonly mode: ClientTlsMode } }[];
    };
  };
}

export interface StringMatchList {
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthzSource {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
}

export interface AuthzOperation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

/** `key` is one of: source.ip, source.namespace, source.principal, destination.port, request.headers[NAME], connection.sni. */
export interface AuthzCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthzRule {
  readonly from?: readonly { readonly source: AuthzSource }[];
  readonly to?: readonly { readonly operation: AuthzOperation }[];
  readonly when?: readonly AuthzCondition[];
}

export interface AuthorizationPolicy {
  readonly kind: 'AuthorizationPolicy';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly selector?: { readonly matchLabels: Readonly<Record<string, string>> };
    /** Default ALLOW. */
    readonly action?: AuthzAction;
    /** Absent or empty: the policy matches nothing (an ALLOW policy then denies everything). */
    readonly rules?: readonly AuthzRule[];
  };
}

export type PolicyObject = PeerAuthentication | DestinationRule | AuthorizationPolicy;

// ---------------------------------------------------------------------------------------------
// What the control plane sends one proxy: already resolved for that workload.

/** Bumped when the shape changes; a proxy NACKs a schema it does not know. */
export const RESOLVED_POLICY_SCHEMA = 1;

export interface ResolvedAuthzPolicy {
  /** `namespace/name`, for logs and metrics. */
  readonly name: string;
  readonly action: AuthzAction;
  readonly rules: readonly AuthzRule[];
}

export interface ResolvedClientTls {
  /** As written in the DestinationRule, qualified: `name.ns.svc.cluster.local`, `*.ns.svc.cluster.local`, `*`. */
  readonly host: string;
  /** Undefined: every port. */
  readonly port?: number;
  readonly mode: ClientTlsMode;
  /** `namespace/name` of the DestinationRule. */
  readonly source: string;
}

export interface ResolvedWorkloadPolicy {
  readonly schema: number;
  /** Effective inbound mode for ports not listed in `portModes`. */
  readonly inboundMode: MtlsMode;
  /** Service/app port (as a string key) → effective mode, where port-level settings apply. */
  readonly portModes: Readonly<Record<string, MtlsMode>>;
  /** Client TLS rules visible to this workload, most specific first. */
  readonly clientTls: readonly ResolvedClientTls[];
  /** Authorization policies that select this workload (DENY and ALLOW, in name order). */
  readonly authorization: readonly ResolvedAuthzPolicy[];
}

/** The request or connection an authorization decision is about. Absent identity = plaintext. */
export interface AuthzRequest {
  readonly sourcePrincipal?: string;
  readonly sourceNamespace?: string;
  readonly sourceIp: string;
  readonly destinationPort: number;
  readonly sni?: string;
  /** Present on HTTP ports: L7 attributes. `path` is the raw request-target as received. */
  readonly http?: {
    readonly method: string;
    readonly path: string;
    readonly host: string;
    readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  };
}

export type AuthzDecision =
  | { readonly allowed: true; readonly policy?: string }
  | { readonly allowed: false; readonly policy?: string; readonly reason: 'deny-matched' | 'no-allow-matched' | 'bad-path' };
