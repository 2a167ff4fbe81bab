import { request } from 'node:http';

export interface FetchResult {
  readonly status: number;
  readonly body: string;
}

/**
 * What `curl` in a sleep pod does: an HTTP GET, either through its sidecar as HTTP proxy
 * (absolute-form request line, as with HTTP_PROXY) or straight to an address (no sidecar).
 */
export function httpGet(url: string, via?: { host: string; port: number }, timeoutMs = 10_000): Promise<FetchResult> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: via?.host ?? u.hostname,
        port: via?.port ?? Number(u.port || 80),
        path: via ? u.href : u.pathname + u.search,
        method: 'GET',
        headers: { host: u.host },
        agent: false,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The peer identity the server-side sidecar passed to the app, from httpbin's /headers answer. */
export function forwardedClientCert(body: string): { by?: string; uri?: string } | undefined {
  let headers: Record<string, unknown>;
  try {
    headers = (JSON.parse(body) as { headers: Record<string, unknown> }).headers;
  } catch {
    return undefined;
  }
  const xfcc = headers['x-forwarded-client-cert'];
  if (typeof xfcc !== 'string') return undefined;
  const out: { by?: string; uri?: string } = {};
  for (const part of xfcc.split(';')) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq).trim().toLowerCase();
    const v = part.slice(eq + 1).trim().replace(/^"|"$/g, '');
    if (k === 'by') out.by = v;
    if (k === 'uri') out.uri = v;
  }
  return out;
}
