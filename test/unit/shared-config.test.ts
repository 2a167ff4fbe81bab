import test from 'ava';
import { parseDurationMs, formatDurationMs } from '../../shared/duration.js';
import { Problems } from '../../shared/config-check.js';
import { ConfigInvalidError } from '../../shared/errors.js';
import { parseSpiffeId, spiffeId } from '../../shared/spiffe.js';
import { parseCli } from '../../shared/cli.js';

test('durations parse with units and compound forms', (t) => {
  t.is(parseDurationMs('90s'), 90_000);
  t.is(parseDurationMs('24h'), 86_400_000);
  t.is(parseDurationMs('7d'), 7 * 86_400_000);
  t.is(parseDurationMs('1h30m'), 5_400_000);
  t.is(parseDurationMs('250ms'), 250);
  t.is(parseDurationMs('24'), undefined, 'a bare number is ambiguous');
  t.is(parseDurationMs('1x'), undefined);
  t.is(parseDurationMs('h'), undefined);
  t.is(formatDurationMs(5_400_000), '1h30m');
});

test('Problems names every bad value at once', (t) => {
  const p = new Problems();
  p.duration('--workload-ttl', 'soon', { def: 1 });
  p.hostPort('--grpc-listen', '127.0.0.1', { host: 'x', port: 1 });
  p.int('--port', '80a', { def: 1, min: 1, max: 65535 });
  const err = t.throws(() => p.throwIfAny(), { instanceOf: ConfigInvalidError });
  t.is(err?.problems.length, 3);
  t.regex(err?.message ?? '', /--workload-ttl: want a duration/);
  t.regex(err?.message ?? '', /--grpc-listen: want host:port/);
  t.regex(err?.message ?? '', /--port: want integer 1\.\.65535, got "80a"/);
});

test('Problems refuses unknown and retired keys', (t) => {
  const p = new Problems();
  p.record({ inboundPort: 1, rotateAt: 0.8, bogus: true }, 'proxy', ['inboundPort'], { rotateAt: 'renewAtFraction' });
  const err = t.throws(() => p.throwIfAny(), { instanceOf: ConfigInvalidError });
  t.deepEqual(err?.problems, ['proxy.rotateAt: renamed to renewAtFraction', 'proxy.bogus: unknown field']);
});

test('hostPort accepts IPv4, names and bracketed IPv6', (t) => {
  const p = new Problems();
  t.deepEqual(p.hostPort('a', '127.0.0.1:15012', { host: '', port: 0 }), { host: '127.0.0.1', port: 15012 });
  t.deepEqual(p.hostPort('a', '[::1]:0', { host: '', port: 9 }), { host: '::1', port: 0 });
  t.deepEqual(p.hostPort('a', 'localhost:80', { host: '', port: 0 }), { host: 'localhost', port: 80 });
  p.hostPort('b', '127.0.0.1:70000', { host: '', port: 0 });
  t.true(p.any);
});

test('SPIFFE IDs round-trip and refuse other shapes', (t) => {
  const id = { trustDomain: 'cluster.local', namespace: 'foo', serviceAccount: 'httpbin' };
  t.is(spiffeId(id), 'spiffe://cluster.local/ns/foo/sa/httpbin');
  t.deepEqual(parseSpiffeId('spiffe://cluster.local/ns/foo/sa/httpbin'), id);
  t.is(parseSpiffeId('spiffe://cluster.local/ns/foo/sa/httpbin/extra'), undefined);
  t.is(parseSpiffeId('spiffe://cluster.local/ns/Foo/sa/x'), undefined);
  t.is(parseSpiffeId('https://cluster.local/ns/foo/sa/x'), undefined);
});

test('CLI flags: unknown flag is a usage error, env fills absent flags', (t) => {
  const defs = { 'grpc-listen': { type: 'string', env: 'X_LISTEN', help: '' } } as const;
  t.throws(() => parseCli(['--nope'], defs), { code: 'MESH_ERR_USAGE' as never, message: /Unknown option '--nope'/ });
  t.is(parseCli([], defs, { X_LISTEN: '1.2.3.4:5' }).values['grpc-listen'], '1.2.3.4:5');
  t.is(parseCli(['--grpc-listen', 'a:1'], defs, { X_LISTEN: '1.2.3.4:5' }).values['grpc-listen'], 'a:1');
});
