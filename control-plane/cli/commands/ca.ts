import { UsageError } from '../../../shared/errors.js';
import { CONNECTION_FLAGS, apiClientFrom } from '../api-client.js';
import type { Command } from '../command.js';

export const caBundle: Command = {
  name: 'ca bundle',
  usage: 'meshctl ca bundle > root.pem',
  summary: 'Print the trust bundle (the root certificates proxies verify the control plane and each other against).',
  flags: { ...CONNECTION_FLAGS },
  async run(values, positionals, out) {
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const api = await apiClientFrom(values);
    out.write(await api.text('/api/v1/ca/bundle'));
    return 0;
  },
};
