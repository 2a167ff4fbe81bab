#!/usr/bin/env node
import { randomInt } from 'node:crypto';
import { helpText, parseCli, runMain } from '../../shared/cli.js';
import { createRootLogger } from '../../shared/logging.js';
import { systemClock } from '../../shared/clock.js';
import { UsageError } from '../../shared/errors.js';
import { PROXY_FLAGS, parseProxyConfig } from './config.js';
import { startProxy } from './proxy.js';

const USAGE = 'mesh-proxy --namespace NS --service-account SA --root-cert FILE --token-file FILE [flags]';
const SUMMARY = 'The mtls-mesh sidecar: obtains and rotates its workload certificate, terminates and originates mutual TLS.';

// Jitter for rotation and backoff: not a secret, but drawn from the CSPRNG so fleets do not align.
const random = (): number => randomInt(0, 2 ** 32) / 2 ** 32;

runMain('mesh-proxy', async () => {
  const { values, positionals } = parseCli(process.argv.slice(2), PROXY_FLAGS);
  if (values.help) {
    process.stdout.write(helpText(USAGE, SUMMARY, PROXY_FLAGS));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const cfg = parseProxyConfig(values);
  const log = createRootLogger(cfg.logLevel, 'mesh-proxy');
  let quit: () => void = () => undefined;
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  const proxy = await startProxy(cfg, systemClock, random, log, (ev) => process.stdout.write(`${JSON.stringify(ev)}\n`), () => quit());
  process.once('SIGINT', () => quit());
  process.once('SIGTERM', () => quit());
  await quitting;
  await proxy.stop();
  log.flush();
  return 0;
});
