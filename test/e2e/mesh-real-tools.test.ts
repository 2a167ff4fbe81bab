import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startHttpbin } from '../../loadtest/apps/httpbin.js';
import { LocalMesh } from '../../loadtest/mesh/local-mesh.js';
import { BIN, runProcess } from '../../loadtest/mesh/process.js';
import { createCsr } from '../../shared/x509/csr-build.js';
import { generateWorkloadKey } from '../../shared/x509/keys.js';
import { askOnce } from '../helpers/secret-client.js';

const run = promisify(execFile);

// One mesh for every check here: real processes, checked with the tools operators use.
let mesh: LocalMesh;
let closeApp: () => Promise<void>;
test.before(async () => {
  const app = await startHttpbin();
  closeApp = () => app.close();
  mesh = await LocalMesh.start();
  await mesh.addProxy('httpbin', { namespace: 'foo', serviceAccount: 'httpbin', services: ['httpbin'], inbound: [{ port: 8000, protocol: 'http', appPort: app.port }] });
  await mesh.addProxy('sleep', { namespace: 'foo', serviceAccount: 'sleep', outbound: true });
});
test.after.always(async () => {
  await mesh?.stop();
  await closeApp?.();
});

test('openssl verifies a certificate issued by the running control plane and reads it as an X.509-SVID', async (t) => {
  const token = (await readFile(await mesh.tokenFile('openssl', 'foo', 'httpbin'), 'utf8')).trim();
  const bundle = await runProcess(BIN.meshctl, ['ca', 'bundle', '--control-plane', mesh.httpUrl], { MESH_ADMIN_TOKEN: mesh.adminToken });
  t.is(bundle.code, 0, bundle.stderr);
  const key = generateWorkloadKey();
  const csr = createCsr({ privateKey: key.privateKey, publicKey: key.publicKey, uri: 'spiffe://cluster.local/ns/foo/sa/httpbin', dnsNames: ['httpbin.foo.svc'] });
  const { response, error, session } = await askOnce(mesh.grpcTarget, { rootsPem: bundle.stdout, token }, { csr_pem: csr });
  session.close();
  t.is(error, undefined);
  const [leaf = '', issuing = ''] = response?.certificate?.pem ?? [];
  await writeFile(join(mesh.dir, 'root.pem'), bundle.stdout);
  await writeFile(join(mesh.dir, 'issuing.pem'), issuing);
  await writeFile(join(mesh.dir, 'leaf.pem'), leaf);
  const verify = await run('openssl', ['verify', '-CAfile', 'root.pem', '-untrusted', 'issuing.pem', 'leaf.pem'], { cwd: mesh.dir });
  t.is(verify.stdout.trim(), 'leaf.pem: OK');
  const text = (await run('openssl', ['x509', '-in', 'leaf.pem', '-text', '-noout'], { cwd: mesh.dir })).stdout;
  t.regex(text, /URI:spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin/);
  t.regex(text, /DNS:httpbin\.foo\.svc/);
  t.regex(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  t.regex(text, /CA:FALSE/);
  t.regex(text, /Digital Signature/);
});

test('curl through the client sidecar (HTTP_PROXY) reaches httpbin over mTLS', async (t) => {
  const sleep = mesh.proxy('sleep');
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-x', `http://127.0.0.1:${sleep.outboundPort ?? 0}`, 'http://httpbin.foo:8000/headers']);
  const headers = (JSON.parse(stdout) as { headers: Record<string, string> }).headers;
  t.is(headers['x-forwarded-client-cert'], 'By=spiffe://cluster.local/ns/foo/sa/httpbin;URI=spiffe://cluster.local/ns/foo/sa/sleep');
  const missing = await run('curl', ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', '-x', `http://127.0.0.1:${sleep.outboundPort ?? 0}`, 'http://nothing.foo.svc.cluster.local:8000/']);
  t.is(missing.stdout, '502');
});

test('curl without a sidecar reaches the app in plaintext; a forged client-cert header is stripped', async (t) => {
  const inbound = mesh.proxy('httpbin').inbound.get(8000) ?? '';
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-H', 'x-forwarded-client-cert: URI=spiffe://cluster.local/ns/foo/sa/admin', `http://${inbound}/headers`]);
  const headers = (JSON.parse(stdout) as { headers: Record<string, string> }).headers;
  t.is(headers['x-forwarded-client-cert'], undefined);
});

test('openssl s_client with the mesh ALPN but no client certificate is refused by the inbound listener', async (t) => {
  const inbound = mesh.proxy('httpbin').inbound.get(8000) ?? '';
  const r = await run('openssl', ['s_client', '-connect', inbound, '-alpn', 'mtls-mesh', '-CAfile', mesh.rootCertFile, '-verify_return_error'], { timeout: 15_000 }).catch(
    (e: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code }),
  );
  const out = `${r.stdout}\n${r.stderr}`;
  // TLS 1.3 reports the refusal as an alert after the handshake: either way no application data flows.
  t.regex(out, /certificate required|alert|errno|handshake failure/i);
  const metrics = await (await fetch(`http://127.0.0.1:${mesh.proxy('httpbin').adminPort}/stats/prometheus`)).text();
  t.regex(metrics, /mesh_proxy_handshake_failures_total\{direction="inbound",reason="no_client_cert"\} [1-9]/);
});

test('meshctl proxy-config secret shows a live proxy certificates per level and a passing chain check', async (t) => {
  const admin = `http://127.0.0.1:${mesh.proxy('httpbin').adminPort}`;
  const r = await runProcess(BIN.meshctl, ['proxy-config', 'secret', admin]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /identity: spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin/);
  t.regex(r.stdout, /^WORKLOAD\s+[0-9a-f]+\s+spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin/m);
  t.regex(r.stdout, /^ISSUING\s/m);
  t.regex(r.stdout, /^ROOT\s/m);
  t.regex(r.stdout, /chain check: OK/);
  const json = JSON.parse((await runProcess(BIN.meshctl, ['proxy-config', 'secret', admin, '-o', 'json'])).stdout) as { chain: { pem: string }[] };
  t.regex(json.chain[0]?.pem ?? '', /BEGIN CERTIFICATE/);
  const down = await runProcess(BIN.meshctl, ['proxy-config', 'secret', 'http://127.0.0.1:9']);
  t.is(down.code, 1);
  t.regex(down.stderr, /unreachable/);
});

/** Resolves when the file contains `re`, re-reading it on every change (no polling). */
async function waitForLine(file: string, re: RegExp, timeoutMs = 10_000): Promise<string> {
  const { watch } = await import('node:fs');
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = re.exec(readFileSync(file, 'utf8'));
      if (m) {
        clearTimeout(timer);
        watcher.close();
        resolve(m[0]);
      }
      return m !== null;
    };
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`${re} not in ${file} within ${timeoutMs}ms`));
    }, timeoutMs);
    const watcher = watch(file, () => void check());
    check();
  });
}

test('the log level changes at run time through the admin API, without a restart', async (t) => {
  const httpbin = mesh.proxy('httpbin');
  const admin = `http://127.0.0.1:${httpbin.adminPort}`;
  t.is(((await (await fetch(`${admin}/logging`)).json()) as { level: string }).level, 'info');
  const set = await fetch(`${admin}/logging?level=debug`, { method: 'POST' });
  t.is(set.status, 200);
  t.is(((await (await fetch(`${admin}/logging`)).json()) as { level: string }).level, 'debug');
  const inbound = httpbin.inbound.get(8000) ?? '';
  await run('curl', ['-sS', '--max-time', '10', '-o', '/dev/null', `http://${inbound}/ip`]);
  const line = await waitForLine(httpbin.process.logFile, /"level":"debug"[^\n]*inbound connection sniffed/);
  t.regex(line, /"kind":"plaintext"/);
  t.is((await fetch(`${admin}/logging?level=loud`, { method: 'POST' })).status, 400);
  await fetch(`${admin}/logging?level=info`, { method: 'POST' });
});
