import { Problems, type HostPort } from '../shared/config-check.js';
import { DEFAULT_TRUST_DOMAIN, isValidNamespace, isValidTrustDomain } from '../shared/spiffe.js';
import { LOG_LEVELS } from '../shared/logging.js';
import { str, type FlagDefs, type ParsedCli } from '../shared/cli.js';
import type { LevelWithSilent } from 'pino';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const YEAR_MS = 365 * DAY_MS;

export const CONTROL_PLANE_FLAGS: FlagDefs = {
  'data-dir': { type: 'string', value: 'DIR', env: 'MESH_DATA_DIR', help: 'where the CA, the admin token and the store live (required)' },
  'trust-domain': { type: 'string', value: 'NAME', env: 'MESH_TRUST_DOMAIN', default: DEFAULT_TRUST_DOMAIN, help: 'SPIFFE trust domain of every identity this CA issues' },
  'grpc-listen': { type: 'string', value: 'HOST:PORT', env: 'MESH_GRPC_LISTEN', default: '127.0.0.1:15012', help: 'TLS gRPC listener for proxies (secret stream)' },
  'http-listen': { type: 'string', value: 'HOST:PORT', env: 'MESH_HTTP_LISTEN', default: '127.0.0.1:15014', help: 'REST API and /metrics' },
  'workload-ttl': { type: 'string', value: 'DURATION', env: 'MESH_WORKLOAD_TTL', default: '24h', help: 'lifetime of workload certificates when the proxy asks for none' },
  'max-workload-ttl': { type: 'string', value: 'DURATION', env: 'MESH_MAX_WORKLOAD_TTL', default: '7d', help: 'longest workload lifetime a proxy may ask for' },
  'root-ttl': { type: 'string', value: 'DURATION', default: '10y', help: 'lifetime of a root CA created on first start' },
  'issuing-ttl': { type: 'string', value: 'DURATION', default: '1y', help: 'lifetime of an issuing CA created on first start' },
  'root-namespace': { type: 'string', value: 'NS', env: 'MESH_ROOT_NAMESPACE', default: 'mesh-system', help: 'namespace whose policies apply mesh-wide (istio-system is accepted as an alias in YAML)' },
  'log-level': { type: 'string', value: 'LEVEL', env: 'MESH_LOG_LEVEL', default: 'info', help: `log level: ${LOG_LEVELS.join('|')}` },
};

export interface ControlPlaneConfig {
  readonly dataDir: string;
  readonly trustDomain: string;
  readonly grpcListen: HostPort;
  readonly httpListen: HostPort;
  readonly workloadTtlMs: number;
  readonly maxWorkloadTtlMs: number;
  readonly rootTtlMs: number;
  readonly issuingTtlMs: number;
  readonly rootNamespace: string;
  readonly logLevel: LevelWithSilent;
}

/** Validates every flag at once; the error names each one that is wrong. */
export function parseControlPlaneConfig(values: ParsedCli['values']): ControlPlaneConfig {
  const p = new Problems();
  const dataDir = str(values, 'data-dir');
  p.check(dataDir !== undefined && dataDir !== '', '--data-dir', 'a directory', dataDir ?? null);
  const trustDomain = str(values, 'trust-domain') ?? DEFAULT_TRUST_DOMAIN;
  p.check(isValidTrustDomain(trustDomain), '--trust-domain', 'a lowercase DNS-like name such as cluster.local', trustDomain);
  const cfg: ControlPlaneConfig = {
    dataDir: dataDir ?? '',
    trustDomain,
    grpcListen: p.hostPort('--grpc-listen', str(values, 'grpc-listen'), { host: '127.0.0.1', port: 15012 }),
    httpListen: p.hostPort('--http-listen', str(values, 'http-listen'), { host: '127.0.0.1', port: 15014 }),
    workloadTtlMs: p.duration('--workload-ttl', str(values, 'workload-ttl'), { def: DAY_MS, min: 1000 }),
    maxWorkloadTtlMs: p.duration('--max-workload-ttl', str(values, 'max-workload-ttl'), { def: 7 * DAY_MS, min: 1000 }),
    rootTtlMs: p.duration('--root-ttl', str(values, 'root-ttl'), { def: 10 * YEAR_MS, min: DAY_MS }),
    issuingTtlMs: p.duration('--issuing-ttl', str(values, 'issuing-ttl'), { def: YEAR_MS, min: HOUR_MS }),
    rootNamespace: str(values, 'root-namespace') ?? 'mesh-system',
    logLevel: p.oneOf('--log-level', str(values, 'log-level'), LOG_LEVELS, 'info'),
  };
  p.check(cfg.workloadTtlMs <= cfg.maxWorkloadTtlMs, '--workload-ttl', `at most --max-workload-ttl (${str(values, 'max-workload-ttl') ?? '7d'})`, str(values, 'workload-ttl') ?? '24h');
  p.check(isValidNamespace(cfg.rootNamespace), '--root-namespace', 'a Kubernetes namespace name', cfg.rootNamespace);
  p.check(cfg.issuingTtlMs <= cfg.rootTtlMs, '--issuing-ttl', 'at most --root-ttl', str(values, 'issuing-ttl') ?? '1y');
  p.throwIfAny();
  return Object.freeze(cfg);
}
