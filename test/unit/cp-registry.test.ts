import test from 'ava';
import { once } from 'node:events';
import { validateRegistration, ServiceRegistry, RegistrationRefusedError } from '../../control-plane/registry/index.js';
import { RegistryResolver as Resolver } from '../../proxy/src/registry/resolver.js';
import type { WorkloadMsg } from '../../shared/registry-types.js';

const foo = { trustDomain: 'cluster.local', namespace: 'foo', serviceAccount: 'httpbin' };
const workload = (services: string[], address = '127.0.0.1:15006'): WorkloadMsg => ({
  id: 'httpbin-1',
  services,
  labels: { app: 'httpbin' },
  ports: [{ port: 8000, protocol: 'http', inbound_address: address }],
});

test('a workload registers services in its own namespace only', (t) => {
  const reg = validateRegistration(workload(['httpbin', 'httpbin.foo']), foo);
  t.deepEqual(reg.services, ['httpbin.foo']);
  t.is(reg.spiffeId, 'spiffe://cluster.local/ns/foo/sa/httpbin');
  const err = t.throws(() => validateRegistration(workload(['payments.bar']), foo), { instanceOf: RegistrationRefusedError });
  t.is(err?.reason, 'foreign-namespace');
  t.regex(err?.message ?? '', /only in namespace foo, not payments\.bar/);
  t.is(t.throws(() => validateRegistration(workload(['Bad_Name']), foo), { instanceOf: RegistrationRefusedError })?.reason, 'bad-service-name');
  t.is(t.throws(() => validateRegistration(workload(['x'], 'nowhere'), foo), { instanceOf: RegistrationRefusedError })?.reason, 'bad-address');
  t.is(t.throws(() => validateRegistration(null, foo), { instanceOf: RegistrationRefusedError })?.reason, 'missing-workload');
});

test('the registry merges endpoints per service and coalesces pushes', async (t) => {
  const r = new ServiceRegistry();
  const changed = once(r, 'changed');
  r.register('a', 1, validateRegistration(workload(['httpbin'], '127.0.0.1:1001'), foo));
  r.register('b', 2, validateRegistration(workload(['httpbin'], '127.0.0.1:1002'), { ...foo, serviceAccount: 'httpbin-v2' }));
  const [snap] = (await changed) as [ReturnType<ServiceRegistry['snapshot']>];
  t.is(snap.services.length, 1);
  t.deepEqual(snap.services[0]?.endpoints.map((e) => e.address), ['127.0.0.1:1001', '127.0.0.1:1002']);
  t.deepEqual(snap.services[0]?.spiffe_ids, ['spiffe://cluster.local/ns/foo/sa/httpbin', 'spiffe://cluster.local/ns/foo/sa/httpbin-v2']);
  const v1 = snap.version;
  t.false(r.deregister('b', 99), 'another stream cannot remove it');
  t.true(r.deregister('b', 2));
  t.not(r.snapshot().version, v1);
  t.deepEqual(r.snapshot().services[0]?.endpoints.map((e) => e.address), ['127.0.0.1:1001']);
});

test('resolver: names, ports, round-robin and outbound policy', (t) => {
  const r = new ServiceRegistry();
  r.register('a', 1, validateRegistration(workload(['httpbin'], '127.0.0.1:1001'), foo));
  r.register('b', 2, validateRegistration(workload(['httpbin'], '127.0.0.1:1002'), foo));
  const res = new Resolver('bar', 'ALLOW_ANY');
  res.update(r.snapshot().services);
  const a = res.resolve('httpbin.foo', 8000);
  const b = res.resolve('httpbin.foo.svc.cluster.local', 8000);
  t.deepEqual([a?.address.port, b?.address.port].sort(), [1001, 1002]);
  t.deepEqual(a?.expectedIds, ['spiffe://cluster.local/ns/foo/sa/httpbin']);
  t.true(a?.hasSidecar);
  t.is(res.resolve('httpbin.foo', 9999), undefined, 'a port the service does not serve');
  t.is(res.resolve('httpbin', 8000)?.service, undefined, 'short names resolve in the own namespace (bar), where there is no httpbin');
  const inFoo = new Resolver('foo', 'ALLOW_ANY');
  inFoo.update(r.snapshot().services);
  t.is(inFoo.resolve('httpbin', 8000)?.service, 'httpbin.foo');
  t.is(res.resolve('nothing.foo.svc.cluster.local', 80), undefined, 'unknown in-cluster names are not passed through');
  t.deepEqual(res.resolve('127.0.0.1', 9000), { address: { host: '127.0.0.1', port: 9000 }, hasSidecar: false, expectedIds: [], service: undefined });
  const strict = new Resolver('bar', 'REGISTRY_ONLY');
  t.is(strict.resolve('127.0.0.1', 9000), undefined);
});

test('restored registrations serve until confirmed or dropped', (t) => {
  const r = new ServiceRegistry();
  const reg = validateRegistration(workload(['httpbin'], '127.0.0.1:1001'), foo);
  r.restore('a', reg);
  r.restore('b', validateRegistration(workload(['httpbin'], '127.0.0.1:1002'), foo));
  t.is(r.snapshot().services[0]?.endpoints.length, 2);
  r.register('a', 7, reg);
  t.deepEqual(r.dropUnconfirmed(), ['b']);
  t.deepEqual(r.snapshot().services[0]?.endpoints.map((e) => e.address), ['127.0.0.1:1001']);
  t.deepEqual(r.registrations().map((x) => [x.key, x.live]), [['a', true]]);
});
