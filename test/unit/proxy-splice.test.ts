import test from 'ava';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { FakeClock } from '../../shared/clock.js';
import { CoarseTimer } from '../../proxy/src/coarse-timer.js';
import { splice, type SpliceResult } from '../../proxy/src/splice.js';

/** One end of an in-memory connection with a small buffer, so back-pressure is deterministic. */
class End extends Duplex {
  peer!: End;
  bytesRead = 0;
  #pending: (() => void) | undefined;
  constructor() {
    super({ allowHalfOpen: true, highWaterMark: 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.peer.bytesRead += chunk.length;
    if (this.peer.push(chunk)) cb();
    else this.peer.#pending = cb;
  }
  override _read(): void {
    const cb = this.#pending;
    this.#pending = undefined;
    cb?.();
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.peer.push(null);
    cb();
  }
}

/** [the side the proxy holds, the far side]. */
function wire(): [Socket, End] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a as unknown as Socket, b];
}

function resultOf(done: Promise<SpliceResult>): Promise<SpliceResult> {
  return Promise.race([done, new Promise<never>((_, r) => AbortSignal.timeout(5000).addEventListener('abort', () => r(new Error('splice never finished'))))]);
}

test('back-pressure: a reader that does not read stops the writer after a bounded amount', async (t) => {
  const [down, client] = wire();
  const [up, app] = wire();
  let finish!: (r: SpliceResult) => void;
  const finished = new Promise<SpliceResult>((r) => (finish = r));
  splice(down, up, { done: finish });
  client.pause();
  const chunk = Buffer.alloc(4096, 7);
  let written = 0;
  while (app.write(chunk)) {
    written += chunk.length;
    await new Promise<void>((r) => setImmediate(r));
    if (written > 1024 * 1024) break;
  }
  // Stream buffers only: a few highWaterMarks, not the whole megabyte.
  t.true(written < 64 * 1024, `wrote ${written} bytes before back-pressure`);
  let received = 0;
  client.on('data', (c: Buffer) => (received += c.length));
  const drained = new Promise<void>((r) => app.once('drain', () => r()));
  client.resume();
  await drained;
  app.end();
  client.end();
  const r = await resultOf(finished);
  t.is(received, written + chunk.length);
  t.is(r.upBytes, written + chunk.length);
  t.is(r.error, undefined);
});

test('half-close: the client FIN reaches the app as end() while the app keeps answering', async (t) => {
  const [down, client] = wire();
  const [up, app] = wire();
  let finish!: (r: SpliceResult) => void;
  const finished = new Promise<SpliceResult>((r) => (finish = r));
  splice(down, up, { done: finish });
  const got: Buffer[] = [];
  app.on('data', (c: Buffer) => got.push(c));
  const appEnded = new Promise<void>((r) => app.once('end', () => r()));
  client.end('question');
  await appEnded;
  t.is(Buffer.concat(got).toString(), 'question');
  const answer: Buffer[] = [];
  client.on('data', (c: Buffer) => answer.push(c));
  const clientEnded = new Promise<void>((r) => client.once('end', () => r()));
  app.write('answer after the FIN');
  app.end();
  await clientEnded;
  t.is(Buffer.concat(answer).toString(), 'answer after the FIN');
  const r = await resultOf(finished);
  t.is(r.downBytes, 'question'.length);
  t.is(r.upBytes, 'answer after the FIN'.length);
});

test('an error on one leg destroys the other; done runs once with the error', async (t) => {
  const [down] = wire();
  const [up] = wire();
  let calls = 0;
  let finish!: (r: SpliceResult) => void;
  const finished = new Promise<SpliceResult>((r) => (finish = r));
  splice(down, up, { done: (r) => (calls++, finish(r)) });
  up.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
  const r = await resultOf(finished);
  t.true(down.destroyed);
  t.is(r.error?.message, 'reset');
  t.is(calls, 1);
});

test('idle timeout: closes both legs on the shared coarse timer, not before', async (t) => {
  const clock = new FakeClock(0);
  const timer = new CoarseTimer(clock, 100);
  const [down, client] = wire();
  const [up, app] = wire();
  let finish!: (r: SpliceResult) => void;
  const finished = new Promise<SpliceResult>((r) => (finish = r));
  splice(down, up, { done: finish, idle: { timer, ms: 1000 } });
  client.resume();
  app.resume();
  clock.advance(900);
  client.write('keep alive');
  await new Promise<void>((r) => setImmediate(r));
  clock.advance(900); // activity seen on this tick: the idle clock restarted
  t.false(down.destroyed);
  clock.advance(1100);
  t.true(down.destroyed);
  t.true(up.destroyed);
  const r = await resultOf(finished);
  t.true(r.idleTimedOut);
  t.is(timer.size, 0);
});
