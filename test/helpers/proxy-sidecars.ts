// Two in-process sidecars on loopback: B's inbound in front of an app, A's outbound (upstream listener and
// HTTP proxy) resolving services through a static table.
import { CoarseTimer } from '../../proxy/src/coarse-timer.js';
import { ProxyEvents } from '../../proxy/src/events.js';
import { InboundListener, type DecideInbound } from '../../proxy/src/inbound.js';
import type { IdentitySnapshot } from '../../proxy/src/identity/snapshot.js';
import { HttpProxyListener, UpstreamListener, type OutboundOptions } from '../../proxy/src/outbound.js';
import { StaticResolver, type ResolvedDestination } from '../../proxy/src/resolver.js';
import { TlsContexts } from '../../proxy/src/tls-contexts.js';
import { TestIdentitySource } from './proxy-harness.js';
import type { ProxyTimeouts } from '../../proxy/src/listener.js';

export interface Sidecar {
  readonly source: TestIdentitySource;
  readonly contexts: TlsContexts;
  readonly events: ProxyEvents;
  readonly timer: CoarseTimer;
  inbound(appPort: number, http: boolean, decide?: DecideInbound, timeouts?: Partial<ProxyTimeouts>): Promise<InboundListener>;
  upstream(service: string, servicePort: number, table: Record<string, ResolvedDestination>): Promise<UpstreamListener>;
  httpProxy(table: Record<string, ResolvedDestination>): Promise<HttpProxyListener>;
  outboundOptions(table: Record<string, ResolvedDestination>): OutboundOptions;
  stop(): Promise<void>;
}

export function sidecar(snapshot: IdentitySnapshot | undefined): Sidecar {
  const source = new TestIdentitySource(snapshot);
  const contexts = new TlsContexts(source);
  const events = new ProxyEvents();
  const timer = new CoarseTimer(undefined, 50);
  const listeners: { close(force?: boolean): Promise<void> }[] = [];
  const outboundOptions = (table: Record<string, ResolvedDestination>): OutboundOptions => ({ contexts, events, timer, resolver: new StaticResolver(table) });
  return {
    source,
    contexts,
    events,
    timer,
    outboundOptions,
    async inbound(appPort, http, decide, timeouts) {
      const l = new InboundListener({ port: { listenHost: '127.0.0.1', listenPort: 0, appPort, http }, contexts, events, timer, decideInbound: decide, timeouts });
      await l.listen();
      listeners.push(l);
      return l;
    },
    async upstream(service, servicePort, table) {
      const l = new UpstreamListener({ listenHost: '127.0.0.1', listenPort: 0, service, servicePort }, outboundOptions(table));
      await l.listen();
      listeners.push(l);
      return l;
    },
    async httpProxy(table) {
      const l = new HttpProxyListener({ ...outboundOptions(table), listenHost: '127.0.0.1', listenPort: 0 });
      await l.listen();
      listeners.push(l);
      return l;
    },
    async stop() {
      await Promise.all(listeners.map((l) => l.close(true)));
      contexts.close();
      timer.close();
    },
  };
}
