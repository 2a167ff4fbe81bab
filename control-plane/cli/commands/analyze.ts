import { UsageError } from '../../../shared/errors.js';
import { str } from '../../../shared/cli.js';
import { CONNECTION_FLAGS, apiClientFrom } from '../api-client.js';
import type { Finding } from '../../policy/analyze.js';
import type { Command } from '../command.js';

export const analyzeCommand: Command = {
  name: 'analyze',
  usage: 'meshctl analyze [-o text|json]',
  summary: 'Static checks of the stored policies against the registry and the certificates in use: TLS mode conflicts, selectors matching nothing, unknown principals, ALLOW shadowed by DENY, certificates in their expiry window. Exit 1 when an error-level finding exists.',
  flags: { output: { type: 'string', short: 'o', value: 'FORMAT', default: 'text', help: 'text|json' }, ...CONNECTION_FLAGS },
  async run(values, positionals, out) {
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const api = await apiClientFrom(values);
    const res = await api.request<{ errors: number; warnings: number; findings: Finding[] }>('GET', '/api/v1/analyze');
    if ((str(values, 'output') ?? 'text') === 'json') out.write(`${JSON.stringify(res, null, 2)}\n`);
    else {
      for (const f of res.findings) out.write(`${f.severity.toUpperCase()} [${f.code}] ${f.object}: ${f.message}\n`);
      out.write(`${res.errors} error(s), ${res.warnings} warning(s)\n`);
    }
    return res.errors > 0 ? 1 : 0;
  },
};
