import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN, runProcess } from '../../loadtest/mesh/process.js';
import { createPkiSet, opensslDate, spiffe, type PkiSet } from '../helpers/openssl-pki.js';

const run = promisify(execFile);
let pki: PkiSet;
test.before(async () => {
  pki = await createPkiSet();
});
test.after.always(() => pki?.cleanup());

async function inspect(file: string): Promise<{ code: number | null; stdout: string }> {
  const r = await runProcess(BIN.meshctl, ['x509', 'inspect', file]);
  return { code: r.code, stdout: r.stdout + r.stderr };
}

/** The same through standard input. */
async function inspectStdin(pem: string): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [BIN.meshctl, 'x509', 'inspect', '-', '-o', 'json'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stdin.end(pem);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout };
}

test('x509 inspect judges certificates made by openssl: good SVID, serverAuth only, expired, not SPIFFE', async (t) => {
  const good = await pki.mesh.leaf({ spiffeId: spiffe('foo', 'httpbin'), dns: ['httpbin.foo.svc'] });
  const serverOnly = await pki.mesh.leaf({ spiffeId: spiffe('foo', 'web'), eku: 'serverAuth' });
  const now = Date.now();
  const expired = await pki.mesh.leaf({ spiffeId: spiffe('foo', 'old'), startDate: opensslDate(now - 3 * 86_400_000), endDate: opensslDate(now - 86_400_000) });
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(pki.dir, 'web.key'), '-out', join(pki.dir, 'web.pem'),
    '-subj', '/CN=web.example', '-days', '1', '-addext', 'subjectAltName=DNS:web.example', '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth,clientAuth']);

  const files: Record<string, string> = {};
  for (const [name, chain] of Object.entries({ good: good.chainPem, serverOnly: serverOnly.chainPem, expired: expired.chainPem })) {
    files[name] = join(pki.dir, `${name}-chain.pem`);
    await writeFile(files[name], chain.join(''));
  }

  const g = await inspect(files.good ?? '');
  t.is(g.code, 0, g.stdout);
  t.regex(g.stdout, /SPIFFE ID\s+spiffe:\/\/cluster\.local\/ns\/foo\/sa\/httpbin/);
  t.regex(g.stdout, /EKU\s+serverAuth, clientAuth/);
  t.regex(g.stdout, /certificate 2 \(intermediate\)/);
  t.regex(g.stdout, /verdict: OK/);

  const s = await inspect(files.serverOnly ?? '');
  t.is(s.code, 1);
  t.regex(s.stdout, /serverAuth only: it cannot act as an mTLS client/);

  const e = await inspect(files.expired ?? '');
  t.is(e.code, 1);
  t.regex(e.stdout, /expired at/);
  t.regex(e.stdout, /EXPIRED/);

  const n = await inspect(join(pki.dir, 'web.pem'));
  t.is(n.code, 1);
  t.regex(n.stdout, /not a SPIFFE SVID: no spiffe:\/\/ URI SAN/);

  // Standard input, JSON, and a chain in the wrong order.
  const viaStdin = await inspectStdin(good.chainPem.join(''));
  t.is(viaStdin.code, 0);
  const json = JSON.parse(viaStdin.stdout) as { verdict: string; certificates: { spiffeId?: string; role: string }[] };
  t.is(json.verdict, 'OK');
  t.deepEqual(json.certificates.map((c) => c.role), ['leaf', 'intermediate']);
  const reversed = await inspectStdin([...good.chainPem].reverse().join(''));
  t.is(reversed.code, 1);
  t.regex(reversed.stdout, /chain order/);

  const garbage = await inspectStdin('hello');
  t.is(garbage.code, 2);
});
