import type { PolicyKind } from '../../shared/policy/types.js';

interface KindInfo {
  readonly kind: PolicyKind;
  readonly group: string;
  readonly apiVersion: string;
  readonly aliases: readonly string[];
}

export const KINDS: readonly KindInfo[] = [
  { kind: 'PeerAuthentication', group: 'security.istio.io', apiVersion: 'security.istio.io/v1', aliases: ['peerauthentication', 'peerauthentications', 'pa'] },
  { kind: 'DestinationRule', group: 'networking.istio.io', apiVersion: 'networking.istio.io/v1', aliases: ['destinationrule', 'destinationrules', 'dr'] },
  { kind: 'AuthorizationPolicy', group: 'security.istio.io', apiVersion: 'security.istio.io/v1', aliases: ['authorizationpolicy', 'authorizationpolicies', 'ap'] },
];

/** `PeerAuthentication`, `peerauthentications`, `pa`, … → the kind; undefined for anything else. */
export function parseKind(text: string): PolicyKind | undefined {
  const t = text.toLowerCase().split('.')[0] ?? '';
  return KINDS.find((k) => k.aliases.includes(t))?.kind;
}

export function kindInfo(kind: PolicyKind): KindInfo {
  const k = KINDS.find((i) => i.kind === kind);
  if (!k) throw new RangeError(`unknown kind ${kind}`);
  return k;
}

/** kubectl-style name: `peerauthentication.security.istio.io/default`. */
export function displayName(kind: PolicyKind, name: string): string {
  return `${kind.toLowerCase()}.${kindInfo(kind).group}/${name}`;
}
