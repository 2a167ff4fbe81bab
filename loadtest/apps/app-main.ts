/**
 * The load test's app as its own process: the small httpbin on a free loopback port. Prints
 * `{"event":"listening","port":N}` on stdout.
 */
import { startHttpbin } from './httpbin.js';

const app = await startHttpbin('127.0.0.1', Number(process.argv[2] ?? 0));
process.stdout.write(`${JSON.stringify({ event: 'listening', port: app.port })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
// Started by the load test: leave with it if it dies without stopping us.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
