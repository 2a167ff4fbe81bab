import test from 'ava';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHttpbin } from '../../loadtest/apps/httpbin.js';
import { httpGet } from '../../loadtest/apps/sleep.js';
import { BIN, startProcess } from '../../loadtest/mesh/process.js';
import { startTestControlPlane } from '../helpers/control-plane.js';

const STRICT = {
  apiVersion: 'security.istio.io/v1beta1',
  kind: 'PeerAuthentication',
  metadata: { name: 'default', namespace: 'foo' },
  spec: { mtls: { mode: 'STRICT' } },
};

test('a policy the proxy cannot apply is NACKed: the old one stays enforced and the error shows on the control plane', async (t) => {
  const app = await startHttpbin();
  const cp = await startTestControlPlane();
  t.teardown(async () => {
    await proxy?.stop();
    await cp.stop();
    await app.close();
  });
  await writeFile(join(cp.dataDir, 'root.pem'), cp.rootPem);
  const { token } = await cp.createToken('foo', 'httpbin');
  await writeFile(join(cp.dataDir, 'httpbin.token'), token);
  const proxy = startProcess('httpbin', BIN.proxy, [
    '--namespace', 'foo', '--service-account', 'httpbin', '--control-plane', cp.grpcTarget, '--root-cert', join(cp.dataDir, 'root.pem'),
    '--token-file', join(cp.dataDir, 'httpbin.token'), '--inbound', `8000/http=127.0.0.1:0=127.0.0.1:${app.port}`, '--admin-listen', '127.0.0.1:0', '--outbound-listen', 'off',
  ], join(cp.dataDir, 'proxy.log'));
  const listening = await proxy.listening;
  await proxy.next('ready');
  const inbound = (listening.inbound as { address: string }[])[0]?.address ?? '';
  t.is((await httpGet(`http://${inbound}/ip`)).status, 200, 'PERMISSIVE by default');

  const applied = await cp.api('POST', '/api/v1/apply?wait=20s', { documents: [STRICT] });
  t.is(((await applied.json()) as { converged: boolean }).converged, true);
  t.is((await httpGet(`http://${inbound}/ip`)).status, 503, 'STRICT refuses plaintext');

  // A newer control plane sends a field this proxy does not know: it must refuse, not enforce part of it.
  const nacked = once(cp.policyService, 'nack', { signal: AbortSignal.timeout(20_000) });
  const future = JSON.stringify({ schema: 1, inboundMode: 'PERMISSIVE', portModes: {}, clientTls: [], authorization: [], fancyNewField: true });
  t.is(cp.policyService.pushRaw('spiffe://cluster.local/ns/foo/sa/httpbin', future), 1);
  const [status] = (await nacked) as [{ lastNack?: { error: string } }];
  t.regex(status.lastNack?.error ?? '', /fancyNewField/);

  const proxies = (await (await cp.api('GET', '/api/v1/proxies')).json()) as { policy: { spiffeId: string; lastNack?: { error: string } }[] };
  t.regex(proxies.policy.find((p) => p.spiffeId.endsWith('/sa/httpbin'))?.lastNack?.error ?? '', /fancyNewField/, 'visible via the REST API');
  t.is((await httpGet(`http://${inbound}/ip`)).status, 503, 'the previous policy (STRICT) is still enforced');
});
