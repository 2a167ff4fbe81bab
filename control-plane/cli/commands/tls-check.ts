import { UsageError } from '../../../shared/errors.js';
import { str } from '../../../shared/cli.js';
import { CONNECTION_FLAGS, apiClientFrom } from '../api-client.js';
import type { TlsCheckResult } from '../../policy/tls-check.js';
import type { Command } from '../command.js';
import { table } from './token.js';

export const tlsCheckCommand: Command = {
  name: 'tls-check',
  usage: 'meshctl tls-check NAMESPACE/WORKLOAD [--port N] [-o text|json]',
  summary: "The workload's effective server mTLS mode per port, the client TLS each registered caller will use, and a CONFLICT line where they disagree. Exit 1 when there is a conflict.",
  flags: {
    port: { type: 'string', value: 'N', help: 'only this service port' },
    output: { type: 'string', short: 'o', value: 'FORMAT', default: 'text', help: 'text|json' },
    ...CONNECTION_FLAGS,
  },
  async run(values, positionals, out) {
    const [target, extra] = positionals;
    if (!target || extra !== undefined || !target.includes('/')) throw new UsageError('want NAMESPACE/WORKLOAD, e.g. foo/httpbin');
    const api = await apiClientFrom(values);
    const port = str(values, 'port');
    const res = await api.request<TlsCheckResult>('GET', `/api/v1/tls-check?workload=${encodeURIComponent(target)}${port ? `&port=${encodeURIComponent(port)}` : ''}`);
    if ((str(values, 'output') ?? 'text') === 'json') {
      out.write(`${JSON.stringify(res, null, 2)}\n`);
      return res.conflicts > 0 ? 1 : 0;
    }
    out.write(`workload ${res.namespace}/${res.workload} (${res.spiffeId}), services ${res.services.join(', ')}\n`);
    for (const p of res.ports) {
      out.write(`\nport ${p.port}: server mode ${p.serverMode}; clients without a sidecar (plaintext) are ${p.plaintextClients}\n`);
      const rows = p.callers.map((c) => [`${c.namespace}/${c.workload}`, `${c.clientTls} (${c.source === 'auto' ? 'auto mTLS' : 'DestinationRule'})`, c.result === 'CONFLICT' ? `CONFLICT: ${c.detail}` : 'OK']);
      out.write(rows.length ? table([['CLIENT', 'CLIENT TLS', 'RESULT'], ...rows]) : '(no other workload is registered)\n');
    }
    return res.conflicts > 0 ? 1 : 0;
  },
};
