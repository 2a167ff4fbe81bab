import test from 'ava';
import { PassThrough } from 'node:stream';
import type { Socket } from 'node:net';
import { BodyFramer, Expect, HeaderId, ResponseTracker, expectationOf, parseRequestHead, rewriteHead, type RequestHead, type ResponseObserver } from '../../proxy/src/http1.js';
import { RequestPump, type HeadVerdict, type PumpHandler, type PumpVerdict } from '../../proxy/src/http-pump.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function head(s: string): RequestHead {
  const p = parseRequestHead(b(s));
  if (!p.ok) throw new Error(`${p.status} ${p.detail}`);
  return p.head;
}

test('parses a request head and marks only the headers the proxy acts on', (t) => {
  const h = head('\r\nPOST /p?q=1 HTTP/1.1\r\nHost: a.b\r\nX-Forwarded-Client-Cert: x\r\nContent-Length:  12 \r\nAccept: */*\r\n\r\n');
  t.is(h.method, 'POST');
  t.is(h.target, '/p?q=1');
  t.is(h.versionMinor, 1);
  t.is(h.host, 'a.b');
  t.is(h.body, 'length');
  t.is(h.contentLength, 12);
  t.deepEqual(h.marked.map((m) => m.id), [HeaderId.Host, HeaderId.ForwardedClientCert, HeaderId.ContentLength]);
  t.is(expectationOf(h), Expect.Normal);
  t.true(head('GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n').upgrade);
  t.false(head('GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n').upgrade);
  t.is(head('HEAD / HTTP/1.0\r\n\r\n').isHead, true);
  t.is(head('GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n').body, 'chunked');
});

test('refuses what another parser could read differently', (t) => {
  const status = (s: string): number | 'ok' => {
    const p = parseRequestHead(b(s));
    return p.ok ? 'ok' : p.status;
  };
  t.is(status('GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n'), 'ok');
  t.is(status('GET / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nX : a\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nX: a\rb\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'), 501);
  t.is(status('GET / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'), 501);
  t.is(status('GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'), 400);
  t.is(status('GET / HTTP/2.0\r\n\r\n'), 505);
  t.is(status('GET  / HTTP/1.1\r\n\r\n'), 400);
  t.is(status('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), 400);
  t.is(status('CONNECT a:1 HTTP/1.1\r\nContent-Length: 3\r\n\r\n'), 400);
});

test('rewriteHead drops marked lines and appends ours before the empty line', (t) => {
  const h = head('GET / HTTP/1.1\r\nx-forwarded-client-cert: spoof\r\nA: 1\r\nX-Forwarded-Client-Cert: again\r\n\r\n');
  const out = Buffer.concat(rewriteHead(h, (id) => id === HeaderId.ForwardedClientCert, b('x-forwarded-client-cert: ours\r\n'))).toString();
  t.is(out, 'GET / HTTP/1.1\r\nA: 1\r\nx-forwarded-client-cert: ours\r\n\r\n');
  const line = Buffer.concat(rewriteHead(head('GET http://h/x HTTP/1.1\r\nHost: h\r\nB: 2\r\n\r\n'), (id) => id === HeaderId.Host, b('host: h\r\n'), b('GET /x HTTP/1.1\r\n'))).toString();
  t.is(line, 'GET /x HTTP/1.1\r\nB: 2\r\nhost: h\r\n\r\n');
});

test('chunked framing across every split point', (t) => {
  const body = b('5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n');
  const after = b('NEXT');
  const all = Buffer.concat([body, after]);
  for (let cut = 0; cut <= all.length; cut++) {
    const f = new BodyFramer();
    f.start('chunked', 0);
    const first = all.subarray(0, cut);
    const second = all.subarray(cut);
    let end = f.feed(first, 0, first.length);
    let offsetInAll: number;
    if (f.done) offsetInAll = end;
    else {
      t.is(end, first.length);
      end = f.feed(second, 0, second.length);
      offsetInAll = cut + end;
    }
    t.true(f.done, `cut ${cut}`);
    t.is(offsetInAll, body.length, `cut ${cut}`);
  }
  const bad = new BodyFramer();
  bad.start('chunked', 0);
  t.is(bad.feed(b('5\nhello'), 0, 7), -1);
  bad.start('chunked', 0);
  t.is(bad.feed(b('x\r\n'), 0, 3), -1);
  bad.start('chunked', 0);
  t.is(bad.feed(b('fffffffffffffff\r\n'), 0, 17), -1);
  const len = new BodyFramer();
  len.start('length', 3);
  t.is(len.feed(b('abcdef'), 1, 6), 4);
  t.true(len.done);
});

class Observer implements ResponseObserver {
  log: string[] = [];
  onUpgradeResult(switched: boolean): void {
    this.log.push(`upgrade:${switched}`);
  }
  onResponsesIdle(): void {
    this.log.push('idle');
  }
  onResponseError(detail: string): void {
    this.log.push(`error:${detail}`);
  }
}

test('the response tracker follows HEAD, 1xx, 204, chunked and Content-Length responses byte by byte', (t) => {
  const o = new Observer();
  const r = new ResponseTracker(o);
  r.expect(Expect.Head);
  r.expect(Expect.Normal);
  r.expect(Expect.Normal);
  r.expect(Expect.Normal);
  const stream = b(
    'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + // HEAD: no body despite the length
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
      'HTTP/1.1 204 No Content\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  );
  for (let i = 0; i < stream.length; i++) r.feed(stream.subarray(i, i + 1));
  t.deepEqual(o.log, ['idle']);
  t.is(r.outstanding, 0);
});

test('the response tracker reports upgrade outcomes and close-delimited ends', (t) => {
  const o = new Observer();
  const r = new ResponseTracker(o);
  r.expect(Expect.Upgrade);
  r.feed(b('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n'));
  r.expect(Expect.Upgrade);
  r.feed(b('HTTP/1.1 101 Switching Protocols\r\n\r\nraw bytes HTTP/1.1 200'));
  t.deepEqual(o.log, ['upgrade:false', 'idle', 'upgrade:true']);
  t.true(r.switched);

  const o2 = new Observer();
  const r2 = new ResponseTracker(o2);
  r2.expect(Expect.Normal);
  r2.feed(b('HTTP/1.0 200 OK\r\n\r\nuntil close'));
  t.deepEqual(o2.log, []);
  t.true(r2.end());
  t.deepEqual(o2.log, ['idle']);
});

/** Collects what the pump hands on; holds upgrades until told. */
class Recorder implements PumpHandler {
  out: Buffer[] = [];
  heads: RequestHead[] = [];
  bad: string | undefined;
  ended = false;
  onRequestHead(h: RequestHead): HeadVerdict {
    this.heads.push(h);
    this.out.push(...rewriteHead(h, (id) => id === HeaderId.ForwardedClientCert, b('x-forwarded-client-cert: ours\r\n')));
    return 'go';
  }
  onBytes(chunk: Buffer): boolean {
    this.out.push(chunk);
    return true;
  }
  onRequestEnd(h: RequestHead): PumpVerdict {
    return h.upgrade ? 'hold' : 'go';
  }
  onBadRequest(status: number, detail: string): void {
    this.bad = `${status} ${detail}`;
  }
  onDownstreamEnd(): void {
    this.ended = true;
  }
  text(): string {
    return Buffer.concat(this.out).toString('latin1');
  }
}

const PIPELINE =
  'POST /a HTTP/1.1\r\nx-forwarded-client-cert: spoof\r\nContent-Length: 5\r\n\r\nhello' +
  'POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n' +
  '\r\nGET /c HTTP/1.1\r\nX-FORWARDED-CLIENT-CERT: again\r\n\r\n';
const REWRITTEN =
  'POST /a HTTP/1.1\r\nContent-Length: 5\r\nx-forwarded-client-cert: ours\r\n\r\nhello' +
  'POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nx-forwarded-client-cert: ours\r\n\r\n3\r\nxyz\r\n0\r\n\r\n' +
  'GET /c HTTP/1.1\r\nx-forwarded-client-cert: ours\r\n\r\n';

test('the pump rewrites every head of a pipelined keep-alive stream, split at every offset', async (t) => {
  const all = b(PIPELINE);
  for (let cut = 1; cut < all.length; cut++) {
    const s = new PassThrough();
    const rec = new Recorder();
    const pump = new RequestPump(s as unknown as Socket, rec);
    pump.start();
    s.write(all.subarray(0, cut));
    s.end(all.subarray(cut));
    await new Promise<void>((r) => setImmediate(r));
    t.is(rec.text(), REWRITTEN, `cut ${cut}`);
    t.true(rec.ended);
    t.deepEqual(rec.heads.map((h) => h.target), ['/a', '/b', '/c']);
  }
});

test('the pump holds after an upgrade request and resumes as raw or HTTP', async (t) => {
  for (const switched of [true, false]) {
    const s = new PassThrough();
    const rec = new Recorder();
    const pump = new RequestPump(s as unknown as Socket, rec);
    pump.start();
    s.write('GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\nGET /next HTTP/1.1\r\nx-forwarded-client-cert: spoof\r\n\r\n');
    await new Promise<void>((r) => setImmediate(r));
    t.true(pump.held);
    t.is(rec.heads.length, 1);
    pump.release(switched);
    await new Promise<void>((r) => setImmediate(r));
    const tail = rec.text().slice(rec.text().indexOf('ours\r\n\r\n') + 8);
    t.is(tail, switched ? 'GET /next HTTP/1.1\r\nx-forwarded-client-cert: spoof\r\n\r\n' : 'GET /next HTTP/1.1\r\nx-forwarded-client-cert: ours\r\n\r\n');
  }
});

test('the pump answers malformed and oversized heads', async (t) => {
  const s = new PassThrough();
  const rec = new Recorder();
  new RequestPump(s as unknown as Socket, rec).start();
  s.write('GET / HTTP/1.1\r\nBad Header: x\r\n\r\n');
  await new Promise<void>((r) => setImmediate(r));
  t.regex(rec.bad ?? '', /^400/);

  const s2 = new PassThrough();
  const rec2 = new Recorder();
  new RequestPump(s2 as unknown as Socket, rec2).start();
  s2.write(`GET / HTTP/1.1\r\nX: ${'a'.repeat(70 * 1024)}`);
  await new Promise<void>((r) => setImmediate(r));
  t.regex(rec2.bad ?? '', /^431/);
});
