import test from 'ava';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { LogRateLimit } from '../../proxy/src/log-rate-limit.js';
import { ProxyEvents, logProxyEvents } from '../../proxy/src/events.js';
import { HandshakeError } from '../../proxy/src/handshake-errors.js';

test('at most N lines per key per window; the next window says how many were dropped', (t) => {
  let now = 0;
  const rl = new LogRateLimit(3, 1000, () => now);
  t.deepEqual([rl.take('a'), rl.take('a'), rl.take('a'), rl.take('a'), rl.take('a')], [0, 0, 0, undefined, undefined]);
  t.is(rl.take('b'), 0, 'keys are independent');
  now = 999;
  t.is(rl.take('a'), undefined);
  now = 1000;
  t.is(rl.take('a'), 3, 'three lines were dropped in the last window');
  t.is(rl.take('a'), 0);
});

test('a flood of handshake failures logs a bounded number of warn lines, each with the reason in words', (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  const events = new ProxyEvents();
  let now = 0;
  logProxyEvents(events, pino({ level: 'info' }, sink), new LogRateLimit(5, 10_000, () => now));
  const failure = (reason: 'cert_expired' | 'unknown_authority') => ({
    direction: 'inbound' as const, reason, listener: 'inbound:8000', peerAddress: '127.0.0.1:5555', localId: 'spiffe://cluster.local/ns/foo/sa/httpbin', peerId: undefined, expectedIds: undefined, error: new HandshakeError(reason, 'x'),
  });
  for (let i = 0; i < 1000; i++) events.emit('handshake-failure', failure('cert_expired'));
  events.emit('handshake-failure', failure('unknown_authority'));
  t.is(lines.length, 6, '5 for the flooding reason, 1 for another reason');
  t.regex(String(lines[0]?.msg), /inbound handshake failed \(cert_expired\): the peer certificate .* has expired/);
  now = 10_000;
  events.emit('handshake-failure', failure('cert_expired'));
  t.is(lines.at(-1)?.suppressedSinceLastLine, 995);
});
