import { UsageError } from '../../../shared/errors.js';
import { str, type FlagDefs, type ParsedCli } from '../../../shared/cli.js';
import { CONNECTION_FLAGS, apiClientFrom } from '../api-client.js';
import type { Command } from '../command.js';

interface TokenView {
  id: string;
  namespace: string;
  serviceAccount: string;
  createdAt: string;
  expiresAt: string;
  state: string;
  token?: string;
}

const OUTPUT = { type: 'string', value: 'FORMAT', short: 'o', help: 'output: text|json', default: 'text' } as const;

const createFlags: FlagDefs = {
  namespace: { type: 'string', value: 'NS', short: 'n', help: 'namespace the token is bound to (required)' },
  'service-account': { type: 'string', value: 'SA', help: 'service account the token is bound to (required)' },
  ttl: { type: 'string', value: 'DURATION', default: '1h', help: 'how long the token may be used to bootstrap' },
  output: OUTPUT,
  ...CONNECTION_FLAGS,
};

export const tokenCreate: Command = {
  name: 'token create',
  usage: 'meshctl token create --namespace NS --service-account SA [--ttl 1h]',
  summary: 'Create a bootstrap token bound to one workload identity. Prints the token (shown once).',
  flags: createFlags,
  async run(values: ParsedCli['values'], positionals, out) {
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const ns = str(values, 'namespace');
    const sa = str(values, 'service-account');
    if (!ns) throw new UsageError('--namespace is required');
    if (!sa) throw new UsageError('--service-account is required');
    const format = outputFormat(values);
    const api = await apiClientFrom(values);
    const created = await api.request<TokenView>('POST', '/api/v1/tokens', { namespace: ns, serviceAccount: sa, ttl: str(values, 'ttl') ?? '1h' });
    if (format === 'json') out.write(`${JSON.stringify(created, null, 2)}\n`);
    else out.write(`${created.token ?? ''}\n`);
    return 0;
  },
};

export const tokenRevoke: Command = {
  name: 'token revoke',
  usage: 'meshctl token revoke ID',
  summary: 'Revoke a bootstrap token: it can no longer obtain a certificate. Certificates already issued stay valid until they expire.',
  flags: { ...CONNECTION_FLAGS },
  async run(values, positionals, out) {
    const [id, extra] = positionals;
    if (!id || extra !== undefined) throw new UsageError('want exactly one token id (see meshctl token list)');
    const api = await apiClientFrom(values);
    const view = await api.request<TokenView>('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
    out.write(`token ${view.id} (${view.namespace}/${view.serviceAccount}) revoked\n`);
    return 0;
  },
};

export const tokenList: Command = {
  name: 'token list',
  usage: 'meshctl token list [-o text|json]',
  summary: 'List bootstrap tokens (never their secrets).',
  flags: { output: OUTPUT, ...CONNECTION_FLAGS },
  async run(values, _positionals, out) {
    const format = outputFormat(values);
    const api = await apiClientFrom(values);
    const { items } = await api.request<{ items: TokenView[] }>('GET', '/api/v1/tokens');
    if (format === 'json') {
      out.write(`${JSON.stringify(items, null, 2)}\n`);
      return 0;
    }
    const rows = [['ID', 'NAMESPACE', 'SERVICE ACCOUNT', 'STATE', 'EXPIRES'], ...items.map((t) => [t.id, t.namespace, t.serviceAccount, t.state, t.expiresAt])];
    out.write(table(rows));
    return 0;
  },
};

function outputFormat(values: ParsedCli['values']): 'text' | 'json' {
  const o = str(values, 'output') ?? 'text';
  if (o !== 'text' && o !== 'json') throw new UsageError(`--output: want text|json, got ${JSON.stringify(o)}`);
  return o;
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}
