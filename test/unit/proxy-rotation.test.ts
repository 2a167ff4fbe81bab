import test from 'ava';
import { FakeClock } from '../../shared/clock.js';
import { RotationScheduler, rotateAtMs } from '../../proxy/src/identity/rotation.js';
import { Backoff, MAX_BACKOFF_MS } from '../../proxy/src/identity/backoff.js';

const HOUR_MS = 3_600_000;

test('renews at 80% of the lifetime without jitter', (t) => {
  const clock = new FakeClock(0);
  let n = 0;
  // random() = 0.5 → jitter 0.
  new RotationScheduler(clock, () => 0.5, () => n++).schedule(0, 10 * HOUR_MS);
  clock.advance(8 * HOUR_MS - 1);
  t.is(n, 0);
  clock.advance(1);
  t.is(n, 1);
});

test('jitter stays within ±2% of the lifetime', (t) => {
  t.is(rotateAtMs(1000, 101_000, 0), 81_000);
  const clock = new FakeClock(0);
  const lo = new RotationScheduler(clock, () => 0, () => undefined).schedule(0, 100_000);
  const hi = new RotationScheduler(clock, () => 1, () => undefined).schedule(0, 100_000);
  t.is(Math.round(lo), 78_000);
  t.is(Math.round(hi), 82_000);
});

test('rescheduling cancels the earlier timer', (t) => {
  const clock = new FakeClock(0);
  let n = 0;
  const s = new RotationScheduler(clock, () => 0.5, () => n++);
  s.schedule(0, 10_000);
  s.schedule(0, 20_000);
  clock.advance(10_000);
  t.is(n, 0);
  clock.advance(6_000);
  t.is(n, 1);
  t.is(clock.pending, 0);
});

test('a certificate already past 80% renews at once', (t) => {
  const clock = new FakeClock(9_000);
  let n = 0;
  new RotationScheduler(clock, () => 0.5, () => n++).schedule(0, 10_000);
  clock.advance(0);
  t.is(n, 1);
});

test('backoff doubles up to its cap and resets', (t) => {
  const b = new Backoff(() => 0.5);
  const seq = Array.from({ length: 9 }, () => b.nextDelayMs());
  t.deepEqual(seq, [1000, 2000, 4000, 8000, 16000, 32000, MAX_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
  b.reset();
  t.is(b.nextDelayMs(), 1000);
  const jittered = new Backoff(() => 1);
  t.is(jittered.nextDelayMs(), 1200);
});

test('FakeClock fires long timers in order', (t) => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimer(300, () => fired.push('c'));
  clock.setTimer(100, () => fired.push('a'));
  clock.setTimer(200, () => fired.push('b'));
  clock.advance(250);
  t.deepEqual(fired, ['a', 'b']);
  t.is(clock.now(), 250);
  clock.advance(50);
  t.deepEqual(fired, ['a', 'b', 'c']);
});
