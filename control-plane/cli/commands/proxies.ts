import { UsageError } from '../../../shared/errors.js';
import { str } from '../../../shared/cli.js';
import { CONNECTION_FLAGS, apiClientFrom } from '../api-client.js';
import type { Command } from '../command.js';
import { table } from './token.js';

interface Status {
  spiffeId: string;
  workload: string;
  sentVersion?: string;
  ackedVersion?: string;
  ackedRevision?: number;
  lastNack?: { version: string; error: string; at: string };
}

export const proxyStatus: Command = {
  name: 'proxy-status',
  usage: 'meshctl proxy-status [-o text|json]',
  summary: 'Connected proxies with the policy version each was sent and ACKed, and the last NACK with its error.',
  flags: { output: { type: 'string', short: 'o', value: 'FORMAT', default: 'text', help: 'text|json' }, ...CONNECTION_FLAGS },
  async run(values, positionals, out) {
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const api = await apiClientFrom(values);
    const res = await api.request<{ revision: number; policy: Status[] }>('GET', '/api/v1/proxies');
    if ((str(values, 'output') ?? 'text') === 'json') {
      out.write(`${JSON.stringify(res, null, 2)}\n`);
      return 0;
    }
    const rows = res.policy.map((p) => [
      p.workload,
      p.spiffeId,
      p.sentVersion === p.ackedVersion ? 'SYNCED' : p.lastNack?.version === p.sentVersion ? 'NACKED' : 'STALE',
      p.ackedVersion ?? '-',
      p.lastNack ? `${p.lastNack.error} (${p.lastNack.at})` : '',
    ]);
    out.write(table([['PROXY', 'IDENTITY', 'POLICY', 'ACKED VERSION', 'LAST NACK'], ...rows]));
    return res.policy.some((p) => p.sentVersion !== p.ackedVersion) ? 1 : 0;
  },
};
