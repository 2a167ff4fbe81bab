import { readFile } from 'node:fs/promises';
import { UsageError, errnoCode } from '../../../shared/errors.js';
import { str } from '../../../shared/cli.js';
import { formatDurationMs } from '../../../shared/duration.js';
import { inspectChain } from '../../../shared/x509/inspect.js';
import type { Command } from '../command.js';
import { readStdin } from '../stdin.js';

export const x509Inspect: Command = {
  name: 'x509 inspect',
  usage: 'meshctl x509 inspect FILE|- [-o text|json]',
  summary: 'Decode a PEM certificate or chain and judge it for mTLS: SANs, SPIFFE ID, EKU, CA flag, validity, chain order. Exit 1 when a warning was found.',
  flags: { output: { type: 'string', short: 'o', value: 'FORMAT', default: 'text', help: 'text|json' } },
  async run(values, positionals, out) {
    const [file, extra] = positionals;
    if (!file || extra !== undefined) throw new UsageError('want exactly one FILE (or - for standard input)');
    let text: string;
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read ${file} (${errnoCode(e) ?? String(e)})`);
    }
    let result;
    try {
      result = inspectChain(text, Date.now());
    } catch (e) {
      throw new UsageError(`${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const { certs, chainWarnings } = result;
    const bad = chainWarnings.length > 0 || certs.some((c) => c.warnings.length > 0);
    if ((str(values, 'output') ?? 'text') === 'json') {
      out.write(`${JSON.stringify({ verdict: bad ? 'WARN' : 'OK', certificates: certs, chainWarnings }, null, 2)}\n`);
      return bad ? 1 : 0;
    }
    for (const c of certs) {
      const left = c.secondsLeft > 0 ? `${formatDurationMs(c.secondsLeft * 1000)} left` : 'EXPIRED';
      const rows: [string, string][] = [
        ['subject', c.subject || '(empty)'],
        ['issuer', c.issuer],
        ['serial', c.serialHex],
        ['SPIFFE ID', c.spiffeId ?? '-'],
        ['URI SANs', c.uriSans.join(', ') || '-'],
        ['DNS SANs', c.dnsSans.join(', ') || '-'],
        ['IP SANs', c.ipSans.join(', ') || '-'],
        ['EKU', c.extendedKeyUsage.join(', ') || '(none: any usage)'],
        ['key usage', c.keyUsage.join(', ') || '-'],
        ['CA', String(c.isCa)],
        ['key', c.key],
        ['validity', `${new Date(c.notBeforeMs).toISOString()} → ${new Date(c.notAfterMs).toISOString()} (${left})`],
        ['verdict', c.warnings.length ? `WARN: ${c.warnings.join('; ')}` : 'OK'],
      ];
      out.write(`certificate ${c.position} (${c.role})\n${rows.map(([k, v]) => `  ${k.padEnd(10)} ${v}`).join('\n')}\n`);
    }
    for (const w of chainWarnings) out.write(`WARN: ${w}\n`);
    out.write(`verdict: ${bad ? 'WARN' : 'OK'}\n`);
    return bad ? 1 : 0;
  },
};

