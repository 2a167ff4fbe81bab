import { clientTlsFor } from '../../../shared/policy/index.js';
import type { DecideInbound } from '../inbound.js';
import { autoMtls, type DecideOutbound } from '../outbound.js';
import { admitsInbound, type PolicyState } from './policy-state.js';

/** The inbound hook from the policy in force: PeerAuthentication mode of the port, looked up per connection. */
export function policyDecideInbound(state: PolicyState): DecideInbound {
  return (kind, port) => (admitsInbound(state.inboundMode(port), kind) ? 'accept' : 'refuse');
}

/**
 * The outbound hook from the DestinationRules visible to this workload: ISTIO_MUTUAL → mesh mTLS (towards a
 * destination without a sidecar that fails with a clear upstream error), DISABLE → plaintext, no rule → auto
 * mTLS. `namespace` is this workload's: short hosts and rules resolve relative to it.
 */
export function policyDecideOutbound(state: PolicyState, namespace: string): DecideOutbound {
  return (dest, host, port) => {
    const mode = clientTlsFor(state.current().clientTls, host, port, namespace);
    if (mode === 'ISTIO_MUTUAL') return 'mesh';
    if (mode === 'DISABLE') return 'plaintext';
    return autoMtls(dest, host, port);
  };
}
