import test from 'ava';
import { mkdtemp, readFile, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { BIN, runProcess, startProcess } from '../../loadtest/mesh/process.js';

const tmp = (): Promise<string> => mkdtemp(join(tmpdir(), 'mesh-cli-'));

for (const [name, script] of Object.entries(BIN)) {
  test(`${name} --help prints usage and exits 0`, async (t) => {
    const r = await runProcess(script, ['--help']);
    t.is(r.code, 0);
    t.regex(r.stdout, /^Usage: /);
  });
}

test('bad flags exit non-zero with a one-line reason', async (t) => {
  const cases: [string, string[], RegExp][] = [
    [BIN.controlPlane, ['--data-dir', '/tmp/x', '--workload-ttl', 'soon'], /--workload-ttl: want a duration/],
    [BIN.controlPlane, ['--bogus'], /Unknown option '--bogus'/],
    [BIN.controlPlane, [], /--data-dir: want a directory/],
    [BIN.controlPlane, ['--data-dir', '/tmp/x', '--workload-ttl', '10d', '--max-workload-ttl', '7d'], /--workload-ttl: want at most --max-workload-ttl/],
    [BIN.proxy, ['--namespace', 'Foo', '--service-account', 'x', '--root-cert', 'r.pem'], /--namespace: want a Kubernetes namespace name, got "Foo"/],
    [BIN.proxy, ['--namespace', 'foo', '--service-account', 'x', '--root-cert', 'r.pem', '--upstream', 'nope'], /--upstream: want HOST:PORT=SERVICE:PORT/],
    [BIN.meshctl, ['token', 'create', '--namespace', 'foo'], /--service-account is required/],
    [BIN.meshctl, ['frobnicate'], /unknown command "frobnicate"/],
  ];
  for (const [script, args, re] of cases) {
    const r = await runProcess(script, args, { MESH_ADMIN_TOKEN: '' });
    t.is(r.code, 2, `${args.join(' ')}: exit code`);
    t.regex(r.stderr, re, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
  }
});

test('meshctl talks to a real control plane: token create, list, revoke; CA bundle', async (t) => {
  const dir = await tmp();
  const cp = startProcess('control-plane', BIN.controlPlane, ['--data-dir', dir, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'], join(dir, 'cp.log'));
  t.teardown(() => cp.stop());
  const { httpPort } = await cp.listening;
  const url = `http://127.0.0.1:${String(httpPort)}`;
  const tokenFile = join(dir, 'admin.token');
  t.is((await stat(tokenFile)).mode & 0o777, 0o600);
  for (const f of ['root-key.pem', 'issuing-key.pem']) t.is((await stat(join(dir, 'ca', f))).mode & 0o777, 0o600, f);
  const common = ['--control-plane', url, '--admin-token-file', tokenFile];

  const created = await runProcess(BIN.meshctl, ['token', 'create', '-n', 'foo', '--service-account', 'httpbin', '--ttl', '2h', ...common]);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stdout.trim(), /^mesh\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
  const id = created.stdout.trim().split('.')[1] ?? '';

  const listed = await runProcess(BIN.meshctl, ['token', 'list', '-o', 'json', ...common]);
  const items = JSON.parse(listed.stdout) as { id: string; state: string; namespace: string }[];
  t.deepEqual(items.map((i) => [i.id, i.state, i.namespace]), [[id, 'active', 'foo']]);
  t.false(listed.stdout.includes(created.stdout.trim()), 'list never shows the secret');

  const revoked = await runProcess(BIN.meshctl, ['token', 'revoke', id, ...common]);
  t.is(revoked.code, 0, revoked.stderr);
  t.regex(revoked.stdout, new RegExp(`token ${id} \\(foo/httpbin\\) revoked`));
  const missing = await runProcess(BIN.meshctl, ['token', 'revoke', '0000000000000000', ...common]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no bootstrap token with id 0000000000000000/);

  // Env instead of flags.
  const bundle = await runProcess(BIN.meshctl, ['ca', 'bundle'], { MESH_CONTROL_PLANE: url, MESH_ADMIN_TOKEN: (await readFile(tokenFile, 'utf8')).trim() });
  t.is(bundle.code, 0);
  t.is(bundle.stdout, await readFile(join(dir, 'ca', 'root-cert.pem'), 'utf8'));

  const wrong = await runProcess(BIN.meshctl, ['token', 'list', '--control-plane', url], { MESH_ADMIN_TOKEN: 'x'.repeat(43) });
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /admin credential missing or wrong/);

  const free = createServer();
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
  const freePort = (free.address() as AddressInfo).port;
  await new Promise<void>((resolve) => free.close(() => resolve()));
  const down = await runProcess(BIN.meshctl, ['token', 'list', '--control-plane', `http://127.0.0.1:${freePort}`], { MESH_ADMIN_TOKEN: 'x'.repeat(43) });
  t.is(down.code, 1);
  t.regex(down.stderr, /unreachable: ECONNREFUSED/);
});

test('a corrupt CA file stops the control plane with its name; it is not regenerated', async (t) => {
  const dir = await tmp();
  const first = startProcess('control-plane', BIN.controlPlane, ['--data-dir', dir, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'], join(dir, 'cp.log'));
  await first.listening;
  await first.stop();
  const keyPath = join(dir, 'ca', 'issuing-key.pem');
  const original = await readFile(keyPath, 'utf8');
  await writeFile(keyPath, original.slice(0, original.length / 2));
  const r = await runProcess(BIN.controlPlane, ['--data-dir', dir, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0']);
  t.is(r.code, 1);
  t.regex(r.stderr, /issuing-key\.pem/);
  t.regex(r.stderr, /MESH_ERR_CA_MATERIAL/);
  t.is(await readFile(keyPath, 'utf8'), original.slice(0, original.length / 2), 'left for the operator to restore');
});

test('meshctl apply, get and delete policies against a real control plane', async (t) => {
  const dir = await tmp();
  const cp = startProcess('control-plane', BIN.controlPlane, ['--data-dir', dir, '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0'], join(dir, 'cp.log'));
  t.teardown(() => cp.stop());
  const { httpPort } = await cp.listening;
  const env = { MESH_CONTROL_PLANE: `http://127.0.0.1:${String(httpPort)}`, MESH_ADMIN_TOKEN: (await readFile(join(dir, 'admin.token'), 'utf8')).trim() };
  const file = join(dir, 'policies.yaml');
  await writeFile(file, [
    'apiVersion: security.istio.io/v1beta1',
    'kind: PeerAuthentication',
    'metadata:',
    '  name: default',
    'spec:',
    '  mtls:',
    '    mode: STRICT',
    '---',
    'apiVersion: networking.istio.io/v1alpha3',
    'kind: DestinationRule',
    'metadata:',
    '  name: httpbin',
    'spec:',
    '  host: httpbin.foo.svc.cluster.local',
    '  trafficPolicy:',
    '    tls:',
    '      mode: ISTIO_MUTUAL',
    '',
  ].join('\n'));
  const applied = await runProcess(BIN.meshctl, ['apply', '-n', 'foo', '-f', file], env);
  t.is(applied.code, 0, applied.stderr);
  t.is(applied.stdout, 'peerauthentication.security.istio.io/default created (namespace foo)\ndestinationrule.networking.istio.io/httpbin created (namespace foo)\n');
  const again = await runProcess(BIN.meshctl, ['apply', '-n', 'foo', '-f', file], env);
  t.regex(again.stdout, /default unchanged/);

  const asYaml = await runProcess(BIN.meshctl, ['get', 'pa', '-n', 'foo', '-o', 'yaml'], env);
  t.regex(asYaml.stdout, /kind: PeerAuthentication/);
  t.regex(asYaml.stdout, /mode: STRICT/);
  const asJson = JSON.parse((await runProcess(BIN.meshctl, ['get', 'destinationrules', 'httpbin', '-n', 'foo', '-o', 'json'], env)).stdout) as { spec: { host: string } };
  t.is(asJson.spec.host, 'httpbin.foo.svc.cluster.local');
  t.regex((await runProcess(BIN.meshctl, ['get', 'pa'], env)).stdout, /foo\s+default\s+\d+\s+mtls STRICT/);

  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: x\n  namespace: foo\nspec:\n  action: AUDIT\n');
  const refused = await runProcess(BIN.meshctl, ['apply', '-f', bad], env);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /spec\.action/);

  const deleted = await runProcess(BIN.meshctl, ['delete', 'peerauthentication', 'default', '-n', 'foo'], env);
  t.is(deleted.code, 0, deleted.stderr);
  const missing = await runProcess(BIN.meshctl, ['delete', '-n', 'foo', '-f', file], env);
  t.is(missing.code, 1, 'one of the two was already gone');
  t.regex(missing.stdout, /peerauthentication\.security\.istio\.io\/default not-found/);
  t.regex(missing.stdout, /destinationrule\.networking\.istio\.io\/httpbin deleted/);
});
