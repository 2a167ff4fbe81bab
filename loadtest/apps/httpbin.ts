import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small httpbin: /ip, /headers, /status/N, /bytes/N, /get. What it reports is what reached the app,
 * so tests and the demo can tell whether a request came through the sidecar and with which identity.
 */
export function httpbinHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://app');
  const status = /^\/status\/(\d{3})$/.exec(url.pathname);
  const bytes = /^\/bytes\/(\d{1,8})$/.exec(url.pathname);
  if (url.pathname === '/ip') return json(res, 200, { origin: req.socket.remoteAddress });
  if (url.pathname === '/headers') return json(res, 200, { headers: req.headers });
  if (url.pathname === '/get' || url.pathname === '/') {
    return json(res, 200, { url: req.url, headers: req.headers, origin: req.socket.remoteAddress });
  }
  if (status) {
    res.writeHead(Number(status[1]), { 'content-length': '0' });
    res.end();
    return;
  }
  if (bytes) {
    const n = Number(bytes[1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
    res.end(Buffer.alloc(n, 0x61));
    return;
  }
  if (url.pathname === '/post' && req.method === 'POST') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => json(res, 200, { length: Buffer.concat(chunks).length }));
    return;
  }
  json(res, 404, { error: 'not found', path: url.pathname });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startHttpbin(host = '127.0.0.1', port = 0): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer({ keepAliveTimeout: 30_000 }, httpbinHandler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
