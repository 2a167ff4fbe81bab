import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * The single-core AES-128-GCM limit from `openssl speed -evp aes-128-gcm` at 16 KiB blocks (the TLS
 * record size), MB/s (10^6 bytes): the physical ceiling of an L4 mTLS pipe.
 */
export async function aesGcmMBps(seconds: number): Promise<number> {
  const { stdout } = await promisify(execFile)('openssl', ['speed', '-evp', 'aes-128-gcm', '-seconds', String(seconds), '-bytes', '16384'], { timeout: seconds * 1000 + 20_000 });
  return parseOpensslSpeed(stdout);
}

/** The last figure of the result line (`AES-128-GCM  6612345.67k`), in 1000s of bytes/s → MB/s. */
export function parseOpensslSpeed(out: string): number {
  const line = out.trim().split('\n').reverse().find((l) => /^aes-128-gcm\s/i.test(l.trim()));
  const m = line ? /([\d.]+)k\s*$/.exec(line.trim()) : null;
  if (!m) throw new Error(`could not parse openssl speed output: ${out.slice(-300)}`);
  return Number(m[1]) / 1000;
}
