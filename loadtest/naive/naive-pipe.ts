/**
 * The naive Node pair (`naive-l4`): what a first attempt at a sidecar looks like, kept so that anyone
 * can see how far the real proxy got. `client LISTEN_PORT TARGET_PORT CERTDIR` accepts plaintext and
 * opens a new mTLS connection per accepted connection; `server LISTEN_PORT APP_PORT CERTDIR` terminates
 * mTLS (client certificate required) and pipes to the app. Same P-256 certificates as nginx, TLS 1.3,
 * `noDelay` on all four sockets; no session resumption, a SecureContext per connection.
 * Prints `{"event":"listening","port":N}`.
 */
import { readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as tlsCreateServer } from 'node:tls';

const [mode, listenArg, targetArg, certDir = '.'] = process.argv.slice(2);
const target = Number(targetArg);
const read = (n: string): Buffer => readFileSync(join(certDir, n));
const ca = read('ca.pem');

function pipePair(a: Socket, b: Socket): void {
  a.setNoDelay(true);
  b.setNoDelay(true);
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

const server =
  mode === 'client'
    ? createServer((down) => {
        const up = tlsConnect({ host: '127.0.0.1', port: target, ca, cert: read('client.pem'), key: read('client.key'), servername: 'httpbin.foo.svc', minVersion: 'TLSv1.3', ecdhCurve: 'prime256v1' });
        pipePair(down, up);
      })
    : tlsCreateServer({ ca, cert: read('server.pem'), key: read('server.key'), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ecdhCurve: 'prime256v1' }, (down) => {
        pipePair(down, connect({ host: '127.0.0.1', port: target }));
      });
server.listen(Number(listenArg ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
// Started by the load test: leave with it if it dies without stopping us.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
