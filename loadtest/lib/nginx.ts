/**
 * An nginx pair configured as equivalent sidecars (Debian packages `nginx` or `nginx-light` and
 * `libnginx-mod-stream`): one worker per side, the same P-256 certificates, TLS 1.3 both ways,
 * `proxy_ssl_session_reuse on`, loopback only, random ports, a temporary prefix directory.
 * - `stream`: client side `proxy_ssl` → server side `ssl_verify_client on` → app (pair-l4, churn, payload).
 * - `http`: the same with the http module and keep-alive upstreams (pair-l7).
 * - `server-only`: one plaintext http proxy in front of the app.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { PairCerts } from './certs.js';
import type { MeasuredProc } from './procstat.js';
import { freePort } from './ports.js';

export type NginxKind = 'stream' | 'http' | 'server-only';

export interface NginxPair {
  /** Port the load generator talks to. */
  port: number;
  /** The worker processes (one per side). */
  workers: MeasuredProc[];
  stop(): Promise<void>;
}

const MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

function tlsClient(c: PairCerts): string {
  return `proxy_ssl_certificate ${c.clientCert}; proxy_ssl_certificate_key ${c.clientKey};
      proxy_ssl_trusted_certificate ${c.ca}; proxy_ssl_verify on; proxy_ssl_name ${c.serverName};
      proxy_ssl_protocols TLSv1.3; proxy_ssl_conf_command Groups P-256; proxy_ssl_session_reuse on;`;
}
function tlsServer(c: PairCerts): string {
  return `ssl_certificate ${c.serverCert}; ssl_certificate_key ${c.serverKey};
      ssl_client_certificate ${c.ca}; ssl_verify_client on; ssl_protocols TLSv1.3; ssl_ecdh_curve prime256v1;
      ssl_session_cache shared:S:1m;`;
}

function config(dir: string, body: string, stream: boolean): string {
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  return `${stream ? `load_module ${MODULE};\n` : ''}${user}daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
${body}
`;
}

function httpBlock(dir: string, servers: string): string {
  return `http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')}; proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fcgi')}; uwsgi_temp_path ${join(dir, 'uwsgi')}; scgi_temp_path ${join(dir, 'scgi')};
  keepalive_requests 1000000;
  ${servers}
}`;
}

async function waitPort(port: number, child: ChildProcess, dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8').slice(-1000) : '';
  throw new Error(`nginx in ${dir} did not listen on ${port}: ${log}`);
}

function workerPids(master: number): number[] {
  try {
    return readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function startOne(dir: string, conf: string, port: number): Promise<{ child: ChildProcess; worker: number }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.resume();
  await waitPort(port, child, dir);
  const worker = workerPids(child.pid ?? 0)[0];
  if (worker === undefined) throw new Error(`nginx in ${dir}: no worker process`);
  return { child, worker };
}

export async function startNginx(kind: NginxKind, dir: string, certs: PairCerts, appPort: number): Promise<NginxPair> {
  const clientPort = await freePort();
  const serverPort = await freePort();
  const sides: { name: string; conf: string; port: number }[] = [];
  if (kind === 'stream') {
    sides.push({
      name: 'nginx-server',
      port: serverPort,
      conf: config(join(dir, 'nginx-server'), `stream { server { listen 127.0.0.1:${serverPort} ssl; ${tlsServer(certs)} proxy_pass 127.0.0.1:${appPort}; } }`, true),
    });
    sides.push({
      name: 'nginx-client',
      port: clientPort,
      conf: config(join(dir, 'nginx-client'), `stream { server { listen 127.0.0.1:${clientPort}; proxy_pass 127.0.0.1:${serverPort}; proxy_ssl on; ${tlsClient(certs)} } }`, true),
    });
  } else if (kind === 'http') {
    sides.push({
      name: 'nginx-server',
      port: serverPort,
      conf: config(join(dir, 'nginx-server'), httpBlock(join(dir, 'nginx-server'), `upstream app { server 127.0.0.1:${appPort}; keepalive 64; }
  server { listen 127.0.0.1:${serverPort} ssl; ${tlsServer(certs)}
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } }`), false),
    });
    sides.push({
      name: 'nginx-client',
      port: clientPort,
      conf: config(join(dir, 'nginx-client'), httpBlock(join(dir, 'nginx-client'), `upstream mesh { server 127.0.0.1:${serverPort}; keepalive 64; }
  server { listen 127.0.0.1:${clientPort};
    location / { proxy_pass https://mesh; proxy_http_version 1.1; proxy_set_header Connection ""; ${tlsClient(certs)} } }`), false),
    });
  } else {
    sides.push({
      name: 'nginx-server',
      port: clientPort,
      conf: config(join(dir, 'nginx-server'), httpBlock(join(dir, 'nginx-server'), `upstream app { server 127.0.0.1:${appPort}; keepalive 64; }
  server { listen 127.0.0.1:${clientPort};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } }`), false),
    });
  }
  const started: { child: ChildProcess; worker: number; name: string }[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      started.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGQUIT');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await once(child, 'exit');
        clearTimeout(t);
      }),
    );
  };
  try {
    for (const s of sides) started.push({ ...(await startOne(join(dir, s.name), s.conf, s.port)), name: s.name });
  } catch (e) {
    await stop();
    throw e;
  }
  return { port: clientPort, workers: started.map((s) => ({ name: s.name, pid: s.worker })), stop };
}
