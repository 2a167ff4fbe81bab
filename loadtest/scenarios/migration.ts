import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { httpGet, forwardedClientCert } from '../apps/sleep.js';
import type { LocalMesh, LocalProxy } from '../mesh/local-mesh.js';
import { BIN, runProcess } from '../mesh/process.js';

/** The reference YAML, unchanged, lives beside this file's source. */
export const MIGRATION_YAML_DIR = fileURLToPath(new URL('../../../loadtest/scenarios/migration/', import.meta.url));

type Client = 'foo' | 'bar' | 'legacy';

export interface MigrationStep {
  readonly name: string;
  /** meshctl arguments (without connection flags); none for the starting point. */
  readonly meshctl?: readonly string[];
  readonly expect: Readonly<Record<Client, number>>;
  /** Whether sleep.foo and sleep.bar must arrive over mTLS with their own identity. */
  readonly sidecarsOverMtls: boolean;
}

const ALL_OK = { foo: 200, bar: 200, legacy: 200 } as const;
const STRICT = { foo: 200, bar: 200, legacy: 503 } as const;
const yaml = (f: string): string => join(MIGRATION_YAML_DIR, f);

/** The Istio mutual-TLS migration task, option 1 then option 2, with the outcomes the task shows. */
export const MIGRATION_STEPS: readonly MigrationStep[] = [
  { name: 'Start: PERMISSIVE (no policy)', expect: ALL_OK, sidecarsOverMtls: true },
  { name: 'Option 1: clients of httpbin.foo send mutual TLS (DestinationRule)', meshctl: ['apply', '-n', 'foo', '-f', yaml('01-client-mtls-httpbin.yaml')], expect: ALL_OK, sidecarsOverMtls: true },
  { name: 'Option 1: lock httpbin.foo down to mutual TLS (Policy STRICT)', meshctl: ['apply', '-f', yaml('02-strict-httpbin.yaml')], expect: STRICT, sidecarsOverMtls: true },
  { name: 'Option 1: back to PERMISSIVE (delete the Policy)', meshctl: ['delete', '-f', yaml('02-strict-httpbin.yaml')], expect: ALL_OK, sidecarsOverMtls: true },
  { name: 'Option 1: clean up the DestinationRule', meshctl: ['delete', '-n', 'foo', '-f', yaml('01-client-mtls-httpbin.yaml')], expect: ALL_OK, sidecarsOverMtls: true },
  { name: 'Option 2: every client sends mutual TLS (DestinationRule *.local)', meshctl: ['apply', '-f', yaml('03-client-mtls-mesh.yaml')], expect: ALL_OK, sidecarsOverMtls: true },
  { name: 'Option 2: lock the mesh down to mutual TLS (MeshPolicy)', meshctl: ['apply', '-f', yaml('04-strict-mesh.yaml')], expect: STRICT, sidecarsOverMtls: true },
  { name: 'Option 2: switch the mesh to PERMISSIVE (MeshPolicy)', meshctl: ['apply', '-f', yaml('05-permissive-mesh.yaml')], expect: ALL_OK, sidecarsOverMtls: true },
  {
    name: 'Option 2: disable global mutual TLS (delete MeshPolicy and DestinationRule)',
    meshctl: ['delete', '-f', yaml('05-permissive-mesh.yaml'), '-f', yaml('03-client-mtls-mesh.yaml')],
    expect: ALL_OK,
    sidecarsOverMtls: true,
  },
];

export interface MigrationClients {
  readonly foo: LocalProxy;
  readonly bar: LocalProxy;
  /** httpbin's sidecar: the legacy client (no sidecar) dials its inbound listener directly. */
  readonly httpbin: LocalProxy;
}

export interface CallResult {
  readonly client: Client;
  readonly status: number;
  readonly peer: string | undefined;
}

/** What `curl http://httpbin.foo:8000/ip` gives from each sleep pod (headers fetched too, to see mTLS). */
export async function callAll(c: MigrationClients): Promise<CallResult[]> {
  const via = (p: LocalProxy) => ({ host: '127.0.0.1', port: p.outboundPort ?? 0 });
  const one = async (client: Client, url: string, proxy?: LocalProxy): Promise<CallResult> => {
    try {
      const res = await httpGet(url, proxy ? via(proxy) : undefined);
      return { client, status: res.status, peer: res.status === 200 ? forwardedClientCert(res.body)?.uri : undefined };
    } catch {
      return { client, status: 0, peer: undefined };
    }
  };
  return Promise.all([
    one('foo', 'http://httpbin.foo:8000/headers', c.foo),
    one('bar', 'http://httpbin.foo:8000/headers', c.bar),
    one('legacy', `http://${c.httpbin.inbound.get(8000) ?? ''}/headers`),
  ]);
}

/** Runs every step; prints the step's name and the task's three lines; returns whether all matched. */
export async function runMigration(mesh: LocalMesh, clients: MigrationClients, say: (line: string) => void): Promise<boolean> {
  let allOk = true;
  for (const [i, step] of MIGRATION_STEPS.entries()) {
    say(`\nStep ${i + 1}: ${step.name}`);
    if (step.meshctl) {
      say(`  $ meshctl ${step.meshctl.map((a) => a.replace(MIGRATION_YAML_DIR, 'loadtest/scenarios/migration/')).join(' ')}`);
      const r = await runProcess(BIN.meshctl, [...step.meshctl, '--wait', '30s', '--control-plane', mesh.httpUrl], { MESH_ADMIN_TOKEN: mesh.adminToken });
      for (const l of (r.stdout + r.stderr).trim().split('\n')) say(`  ${l}`);
      if (r.code !== 0) allOk = false;
    }
    for (const res of await callAll(clients)) {
      const want = step.expect[res.client];
      const mtlsOk = res.client === 'legacy' ? res.peer === undefined : !step.sidecarsOverMtls || res.peer === `spiffe://cluster.local/ns/${res.client}/sa/sleep`;
      const ok = res.status === want && (res.status !== 200 || mtlsOk);
      if (!ok) allOk = false;
      const how = res.status === 200 ? (res.peer ? `  (mTLS, ${res.peer})` : '  (plaintext)') : '';
      say(`sleep.${res.client} to httpbin.foo: ${res.status || '000'}${how}${ok ? '' : `   <-- expected ${want}`}`);
    }
  }
  return allOk;
}
