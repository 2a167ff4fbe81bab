import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, startProcess, type MeshProcess, type ProcessEvent } from './process.js';

export interface ProxySpec {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly services?: readonly string[];
  /** Inbound ports: service port, protocol and where the app listens. */
  readonly inbound?: readonly { port: number; protocol: 'http' | 'tcp'; appPort: number }[];
  /** `SERVICE:PORT` destinations, each given a local listener on a free port. */
  readonly upstreams?: readonly string[];
  /** Start the HTTP-proxy outbound listener (HTTP_PROXY mode). */
  readonly outbound?: boolean;
  readonly labels?: Readonly<Record<string, string>>;
  readonly extraArgs?: readonly string[];
  readonly tokenTtl?: string;
}

export interface LocalProxy {
  readonly name: string;
  readonly process: MeshProcess;
  readonly adminPort: number;
  readonly outboundPort: number | undefined;
  /** Service port → address of the inbound listener. */
  readonly inbound: ReadonlyMap<number, string>;
  /** `SERVICE:PORT` → local upstream listener port. */
  readonly upstreams: ReadonlyMap<string, number>;
  readonly spiffeId: string;
  /** The serial of the certificate it became ready with. */
  readonly initialSerial: string;
}

export interface LocalMeshOptions {
  readonly dir?: string;
  readonly workloadTtl?: string;
  readonly logLevel?: string;
  readonly trustDomain?: string;
}

/**
 * A whole mesh as real processes on loopback: one control plane with an embedded store in a
 * temporary directory, and proxies started on demand. Used by the demo, the e2e tests and load tests.
 */
export class LocalMesh {
  readonly proxies = new Map<string, LocalProxy>();
  readonly #launched: MeshProcess[] = [];
  #cp!: MeshProcess;
  #grpcPort = 0;
  #httpPort = 0;
  #adminToken = '';

  private constructor(
    readonly dir: string,
    private readonly opts: LocalMeshOptions,
  ) {}

  static async start(opts: LocalMeshOptions = {}): Promise<LocalMesh> {
    const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'mtls-mesh-')));
    const mesh = new LocalMesh(dir, opts);
    await mesh.startControlPlane();
    mesh.#adminToken = (await readFile(join(dir, 'cp', 'admin.token'), 'utf8')).trim();
    await writeFile(mesh.rootCertFile, await readFile(join(dir, 'cp', 'ca', 'root-cert.pem')));
    return mesh;
  }

  get controlPlane(): MeshProcess {
    return this.#cp;
  }
  get grpcTarget(): string {
    return `127.0.0.1:${this.#grpcPort}`;
  }
  get httpUrl(): string {
    return `http://127.0.0.1:${this.#httpPort}`;
  }
  get adminToken(): string {
    return this.#adminToken;
  }
  get rootCertFile(): string {
    return join(this.dir, 'root.pem');
  }
  get trustDomain(): string {
    return this.opts.trustDomain ?? 'cluster.local';
  }

  /** Starts (or restarts, on the same ports) the control plane. */
  async startControlPlane(): Promise<void> {
    const args = [
      '--data-dir', join(this.dir, 'cp'),
      '--grpc-listen', `127.0.0.1:${this.#grpcPort}`,
      '--http-listen', `127.0.0.1:${this.#httpPort}`,
      '--log-level', this.opts.logLevel ?? 'info',
      '--trust-domain', this.trustDomain,
    ];
    if (this.opts.workloadTtl) args.push('--workload-ttl', this.opts.workloadTtl);
    this.#cp = startProcess('control-plane', BIN.controlPlane, args, join(this.dir, 'control-plane.log'));
    const ev = await this.#cp.listening;
    this.#grpcPort = Number(ev.grpcPort);
    this.#httpPort = Number(ev.httpPort);
  }

  async stopControlPlane(): Promise<void> {
    await this.#cp.stop();
  }

  async api(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(this.httpUrl + path, {
      method,
      headers: { authorization: `Bearer ${this.#adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
  }

  /** Creates a bootstrap token and writes it to a file, as an operator would. */
  async tokenFile(name: string, namespace: string, serviceAccount: string, ttl = '1h'): Promise<string> {
    const res = await this.api('POST', '/api/v1/tokens', { namespace, serviceAccount, ttl });
    if (res.status !== 201) throw new Error(`token for ${namespace}/${serviceAccount}: HTTP ${res.status} ${await res.text()}`);
    const { token } = (await res.json()) as { token: string };
    const path = join(this.dir, `${name}.token`);
    await writeFile(path, `${token}\n`, { mode: 0o600 });
    return path;
  }

  /** Starts a proxy and waits until it is ready (holds a certificate and listens). */
  async addProxy(name: string, spec: ProxySpec): Promise<LocalProxy> {
    const tokenFile = await this.tokenFile(name, spec.namespace, spec.serviceAccount, spec.tokenTtl);
    return this.launchProxy(name, spec, tokenFile).ready;
  }

  /**
   * Starts a proxy with an existing token file and returns at once: `listening` resolves when its
   * listeners are up, `ready` when it holds a certificate and the registry.
   */
  launchProxy(name: string, spec: ProxySpec, tokenFile: string): { process: MeshProcess; listening: Promise<ProcessEvent>; ready: Promise<LocalProxy> } {
    const args = [
      '--namespace', spec.namespace,
      '--service-account', spec.serviceAccount,
      '--trust-domain', this.trustDomain,
      '--control-plane', this.grpcTarget,
      '--root-cert', this.rootCertFile,
      '--token-file', tokenFile,
      '--admin-listen', '127.0.0.1:0',
      '--outbound-listen', spec.outbound ? '127.0.0.1:0' : 'off',
      '--node-id', name,
      '--log-level', this.opts.logLevel ?? 'info',
    ];
    for (const s of spec.services ?? []) args.push('--service', s);
    for (const i of spec.inbound ?? []) args.push('--inbound', `${i.port}/${i.protocol}=127.0.0.1:0=127.0.0.1:${i.appPort}`);
    for (const u of spec.upstreams ?? []) args.push('--upstream', `127.0.0.1:0=${u}`);
    for (const [k, v] of Object.entries(spec.labels ?? {})) args.push('--label', `${k}=${v}`);
    args.push(...(spec.extraArgs ?? []));
    const proc = startProcess(name, BIN.proxy, args, join(this.dir, `${name}.log`));
    this.#launched.push(proc);
    const readyEv = proc.next('ready', 60_000);
    const ready = (async (): Promise<LocalProxy> => {
      const listening = await proc.listening;
      const ready = await readyEv;
      const proxy: LocalProxy = {
        name,
        process: proc,
        adminPort: Number(listening.admin),
        outboundPort: listening.outbound === null || listening.outbound === undefined ? undefined : Number(listening.outbound),
        inbound: new Map((listening.inbound as { servicePort: number; address: string }[]).map((i) => [i.servicePort, i.address])),
        upstreams: new Map((listening.upstreams as { target: string; port: number }[]).map((u) => [u.target, u.port])),
        spiffeId: String(ready.spiffeId),
        initialSerial: String(ready.serial),
      };
      this.proxies.set(name, proxy);
      return proxy;
    })();
    ready.catch(() => undefined);
    return { process: proc, listening: proc.listening, ready };
  }

  proxy(name: string): LocalProxy {
    const p = this.proxies.get(name);
    if (!p) throw new Error(`no proxy ${name}`);
    return p;
  }

  /** The next event of that name from a proxy. */
  nextEvent(proxy: string, event: string, timeoutMs?: number): Promise<ProcessEvent> {
    return this.proxy(proxy).process.next(event, timeoutMs);
  }

  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    await Promise.all(this.#launched.map((p) => p.stop()));
    await this.#cp.stop();
    if (!opts.keepDir && !this.opts.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
