import { hostname } from 'node:os';
import { Problems, type HostPort } from '../../shared/config-check.js';
import { DEFAULT_TRUST_DOMAIN, isValidNamespace, isValidServiceAccount, isValidTrustDomain } from '../../shared/spiffe.js';
import { LOG_LEVELS } from '../../shared/logging.js';
import { str, strs, type FlagDefs, type ParsedCli } from '../../shared/cli.js';
import type { LevelWithSilent } from 'pino';
import type { OutboundPolicy } from './registry/resolver.js';

export const PROXY_FLAGS: FlagDefs = {
  'control-plane': { type: 'string', value: 'HOST:PORT', env: 'MESH_CONTROL_PLANE_GRPC', default: '127.0.0.1:15012', help: 'control plane gRPC address' },
  'root-cert': { type: 'string', value: 'FILE', env: 'MESH_ROOT_CERT', help: 'root certificate(s) that authenticate the control plane at bootstrap (required)' },
  'token-file': { type: 'string', value: 'FILE', env: 'MESH_TOKEN_FILE', help: 'bootstrap token for the first certificate (re-read at each bootstrap)' },
  namespace: { type: 'string', value: 'NS', env: 'POD_NAMESPACE', help: 'namespace of this workload (required)' },
  'service-account': { type: 'string', value: 'SA', env: 'SERVICE_ACCOUNT', help: 'service account of this workload (required)' },
  'trust-domain': { type: 'string', value: 'NAME', env: 'MESH_TRUST_DOMAIN', default: DEFAULT_TRUST_DOMAIN, help: 'SPIFFE trust domain' },
  service: { type: 'string', value: 'NAME', multiple: true, help: 'service this workload serves, <name> or <name>.<namespace> (default: the service account)' },
  label: { type: 'string', value: 'KEY=VALUE', multiple: true, help: 'workload label, for policy selectors' },
  inbound: {
    type: 'string',
    value: 'PORT/PROTO=LISTEN[=APP]',
    multiple: true,
    help: 'serve service port PORT through an inbound listener at LISTEN (host:port), forwarding to APP (host:port, default --app-host:PORT); PROTO is a port name: http, http-*, tcp, tcp-*',
  },
  'http-ports': { type: 'string', value: 'PORT,…', multiple: true, help: 'service ports that speak HTTP/1.1 whatever their --inbound name says (L7 authorization, x-forwarded-client-cert)' },
  'app-host': { type: 'string', value: 'HOST', default: '127.0.0.1', help: 'where the app listens (loopback in a pod)' },
  'advertise-host': { type: 'string', value: 'HOST', env: 'POD_IP', help: 'address other proxies reach the inbound listeners at (default: their listen host)' },
  upstream: { type: 'string', value: 'HOST:PORT=SERVICE:PORT', multiple: true, help: 'local listener that carries to a mesh service, e.g. 127.0.0.1:9001=httpbin.foo:8000' },
  'outbound-listen': { type: 'string', value: 'HOST:PORT|off', default: '127.0.0.1:15001', help: 'HTTP proxy for the app (HTTP_PROXY=http://HOST:PORT)' },
  'outbound-policy': { type: 'string', value: 'POLICY', default: 'ALLOW_ANY', help: 'destinations outside the registry: ALLOW_ANY (plaintext, direct) or REGISTRY_ONLY (refused)' },
  'admin-listen': { type: 'string', value: 'HOST:PORT', env: 'MESH_ADMIN_LISTEN', default: '127.0.0.1:15000', help: 'admin API: /ready, /stats/prometheus, /certs, /config_dump' },
  'workload-ttl': { type: 'string', value: 'DURATION', help: 'certificate lifetime to ask for (default: the control plane\'s)' },
  'handshake_timeout': { type: 'string', value: 'DURATION', default: '10s', help: 'close connections that do not finish the first bytes/TLS handshake in time' },
  'idle-timeout': { type: 'string', value: 'DURATION', default: '1h', help: 'close connections idle for this long' },
  'node-id': { type: 'string', value: 'ID', env: 'POD_NAME', help: 'instance name shown on the control plane (default: hostname-pid)' },
  'log-level': { type: 'string', value: 'LEVEL', env: 'MESH_LOG_LEVEL', default: 'info', help: `log level: ${LOG_LEVELS.join('|')}` },
};

export interface InboundPort {
  readonly servicePort: number;
  readonly protocol: 'http' | 'tcp';
  readonly listen: HostPort;
  readonly app: HostPort;
}

export interface UpstreamSpec {
  readonly listen: HostPort;
  readonly host: string;
  readonly port: number;
}

export interface ProxyConfig {
  readonly controlPlane: string;
  readonly rootCertFile: string;
  readonly tokenFile: string | undefined;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly trustDomain: string;
  readonly services: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly inbound: readonly InboundPort[];
  readonly appHost: string;
  readonly advertiseHost: string | undefined;
  readonly upstreams: readonly UpstreamSpec[];
  readonly outboundListen: HostPort | undefined;
  readonly outboundPolicy: OutboundPolicy;
  readonly adminListen: HostPort;
  readonly workloadTtlMs: number | undefined;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly nodeId: string;
  readonly logLevel: LevelWithSilent;
}

// The protocol is a port name as in a Kubernetes Service: `http`, `http-web` → HTTP; `tcp`, `tcp-db` → TCP.
const INBOUND_RE = /^(\d{1,5})\/((?:http|tcp)(?:-[a-z0-9-]{1,50})?)=([^=]+)(?:=([^=]+))?$/;
const UPSTREAM_RE = /^(.+)=([^=:]+):(\d{1,5})$/;

export function parseProxyConfig(values: ParsedCli['values']): ProxyConfig {
  const p = new Problems();
  const required = (flag: string, valid: (s: string) => boolean, want: string): string => {
    const v = str(values, flag);
    p.check(v !== undefined && valid(v), `--${flag}`, want, v ?? null);
    return v ?? '';
  };
  const namespace = required('namespace', isValidNamespace, 'a Kubernetes namespace name');
  const serviceAccount = required('service-account', isValidServiceAccount, 'a Kubernetes service account name');
  const rootCertFile = required('root-cert', (s) => s.length > 0, 'a PEM file');
  const trustDomain = str(values, 'trust-domain') ?? DEFAULT_TRUST_DOMAIN;
  p.check(isValidTrustDomain(trustDomain), '--trust-domain', 'a DNS-like name', trustDomain);
  const cp = p.hostPort('--control-plane', str(values, 'control-plane'), { host: '127.0.0.1', port: 15012 });
  p.check(cp.port !== 0, '--control-plane', 'a non-zero port', str(values, 'control-plane'));

  const appHost = str(values, 'app-host') ?? '127.0.0.1';
  const httpPorts = new Set<number>();
  for (const raw of strs(values, 'http-ports').flatMap((v) => v.split(','))) {
    const n = p.int('--http-ports', raw.trim(), { def: 0, min: 1, max: 65535 });
    if (n) httpPorts.add(n);
  }
  const inbound = strs(values, 'inbound').map((raw): InboundPort => {
    const m = INBOUND_RE.exec(raw);
    const port = m ? Number(m[1]) : 0;
    const none = { host: '', port: 0 };
    if (!m || port < 1 || port > 65535) {
      p.add('--inbound', 'PORT/NAME=HOST:PORT[=APPHOST:APPPORT] with NAME http, http-*, tcp or tcp-*, such as 8000/http=127.0.0.1:15006', raw);
      return { servicePort: 0, protocol: 'tcp', listen: none, app: none };
    }
    const app = m[4] === undefined ? { host: appHost, port } : p.hostPort('--inbound (app)', m[4], none);
    const http = (m[2] ?? '').startsWith('http') || httpPorts.has(port);
    return { servicePort: port, protocol: http ? 'http' : 'tcp', listen: p.hostPort('--inbound', m[3], none), app };
  });
  const seen = new Set<number>();
  for (const i of inbound) {
    if (seen.has(i.servicePort)) p.note(`--inbound: service port ${i.servicePort} is given twice`);
    seen.add(i.servicePort);
  }

  const upstreams = strs(values, 'upstream').map((raw): UpstreamSpec => {
    const m = UPSTREAM_RE.exec(raw);
    const port = m ? Number(m[3]) : 0;
    if (!m || port < 1 || port > 65535) {
      p.add('--upstream', 'HOST:PORT=SERVICE:PORT such as 127.0.0.1:9001=httpbin.foo:8000', raw);
      return { listen: { host: '', port: 0 }, host: '', port: 0 };
    }
    return { listen: p.hostPort('--upstream', m[1], { host: '', port: 0 }), host: m[2] ?? '', port };
  });

  const labels: Record<string, string> = {};
  for (const raw of strs(values, 'label')) {
    const m = /^([A-Za-z0-9./_-]{1,253})=([A-Za-z0-9._-]{0,63})$/.exec(raw);
    if (!m) p.add('--label', 'KEY=VALUE with Kubernetes label syntax', raw);
    else labels[m[1] ?? ''] = m[2] ?? '';
  }

  const outboundRaw = str(values, 'outbound-listen');
  const ttlRaw = str(values, 'workload-ttl');
  const cfg: ProxyConfig = {
    controlPlane: `${cp.host.includes(':') ? `[${cp.host}]` : cp.host}:${cp.port}`,
    rootCertFile,
    tokenFile: str(values, 'token-file'),
    namespace,
    serviceAccount,
    trustDomain,
    services: strs(values, 'service').length ? strs(values, 'service') : [serviceAccount],
    labels,
    inbound,
    appHost,
    advertiseHost: str(values, 'advertise-host'),
    upstreams,
    outboundListen: outboundRaw === 'off' ? undefined : p.hostPort('--outbound-listen', outboundRaw, { host: '127.0.0.1', port: 15001 }),
    outboundPolicy: p.oneOf('--outbound-policy', str(values, 'outbound-policy'), ['ALLOW_ANY', 'REGISTRY_ONLY'] as const, 'ALLOW_ANY'),
    adminListen: p.hostPort('--admin-listen', str(values, 'admin-listen'), { host: '127.0.0.1', port: 15000 }),
    workloadTtlMs: ttlRaw === undefined ? undefined : p.duration('--workload-ttl', ttlRaw, { def: 0, min: 1000 }),
    handshakeTimeoutMs: p.duration('--handshake_timeout', str(values, 'handshake_timeout'), { def: 10_000, min: 100 }),
    idleTimeoutMs: p.duration('--idle-timeout', str(values, 'idle-timeout'), { def: 3_600_000, min: 1000 }),
    nodeId: str(values, 'node-id') ?? `${hostname()}-${process.pid}`,
    logLevel: p.oneOf('--log-level', str(values, 'log-level'), LOG_LEVELS, 'info'),
  };
  p.throwIfAny();
  return Object.freeze(cfg);
}
