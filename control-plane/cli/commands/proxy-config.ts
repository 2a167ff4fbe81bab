import { UsageError, errnoCode } from '../../../shared/errors.js';
import { str } from '../../../shared/cli.js';
import { formatDurationMs } from '../../../shared/duration.js';
import { ApiUnreachableError, ApiCallError } from '../api-client.js';
import type { Command } from '../command.js';
import { table } from './token.js';

interface CertRow {
  level: string;
  serial: string;
  subject: string;
  issuer: string;
  spiffeId?: string;
  notBefore: string;
  notAfter: string;
  secondsToExpiry: number;
}

interface CertsAnswer {
  spiffeId: string;
  bundleVersion: string;
  chainCheck: { ok: boolean; detail: string };
  chain: CertRow[];
  roots: CertRow[];
}

export const proxyConfigSecret: Command = {
  name: 'proxy-config secret',
  usage: 'meshctl proxy-config secret ADMIN_URL [-o text|json]',
  summary: "A proxy's certificates (workload, issuing, intermediates, bundle roots) with time left, and whether its chain verifies against its bundle. ADMIN_URL is the proxy's admin address, e.g. http://127.0.0.1:15000. Exit 1 when the check fails.",
  flags: { output: { type: 'string', short: 'o', value: 'FORMAT', default: 'text', help: 'text|json' } },
  async run(values, positionals, out) {
    const [admin, extra] = positionals;
    if (!admin || extra !== undefined) throw new UsageError('want the proxy admin URL, e.g. http://127.0.0.1:15000');
    let url: URL;
    try {
      url = new URL('/certs', admin);
    } catch {
      throw new UsageError(`not a URL: ${JSON.stringify(admin)}`);
    }
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    } catch (e) {
      const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
      throw new ApiUnreachableError(`proxy admin at ${url.origin} is unreachable: ${errnoCode(cause) ?? String(cause)}`);
    }
    if (!res.ok) throw new ApiCallError(res.status, undefined, `proxy admin answered ${res.status}: ${(await res.text()).trim()}`);
    const certs = (await res.json()) as CertsAnswer;
    if ((str(values, 'output') ?? 'text') === 'json') {
      out.write(`${JSON.stringify(certs, null, 2)}\n`);
      return certs.chainCheck.ok ? 0 : 1;
    }
    const rows = [...certs.chain, ...certs.roots].map((c) => [
      c.level.toUpperCase(),
      c.serial,
      c.spiffeId ?? c.subject,
      c.notAfter,
      c.secondsToExpiry > 0 ? formatDurationMs(c.secondsToExpiry * 1000) : 'EXPIRED',
    ]);
    out.write(`identity: ${certs.spiffeId}   trust bundle: ${certs.bundleVersion}\n`);
    out.write(table([['LEVEL', 'SERIAL', 'IDENTITY / SUBJECT', 'NOT AFTER', 'TIME LEFT'], ...rows]));
    out.write(`chain check: ${certs.chainCheck.ok ? 'OK' : 'FAILED'}: ${certs.chainCheck.detail}\n`);
    return certs.chainCheck.ok ? 0 : 1;
  },
};
