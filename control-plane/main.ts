#!/usr/bin/env node
import { helpText, parseCli, runMain } from '../shared/cli.js';
import { createRootLogger } from '../shared/logging.js';
import { systemClock } from '../shared/clock.js';
import { UsageError } from '../shared/errors.js';
import { CONTROL_PLANE_FLAGS, parseControlPlaneConfig } from './config.js';
import { startControlPlane } from './control-plane.js';

const USAGE = 'mesh-control-plane --data-dir DIR [flags]';
const SUMMARY = 'The mtls-mesh control plane: certificate authority, workload authentication and the secret stream to proxies.';

runMain('mesh-control-plane', async () => {
  const { values, positionals } = parseCli(process.argv.slice(2), CONTROL_PLANE_FLAGS);
  if (values.help) {
    process.stdout.write(helpText(USAGE, SUMMARY, CONTROL_PLANE_FLAGS));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const cfg = parseControlPlaneConfig(values);
  const log = createRootLogger(cfg.logLevel, 'mesh-control-plane');
  const cp = await startControlPlane(cfg, systemClock, log);
  // Machine-readable line for scripts and tests that start us on port 0.
  process.stdout.write(`${JSON.stringify({ event: 'listening', grpcPort: cp.grpcPort, httpPort: cp.httpPort })}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await cp.stop();
  log.flush();
  return 0;
});
