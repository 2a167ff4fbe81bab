import test from 'ava';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { FakeClock } from '../../shared/clock.js';
import { classifyFirstBytes, parseClientHello, restoreSniffedBytes, sniffConnection, MAX_SNIFF_BYTES } from '../../proxy/src/sniff.js';

/** The bytes of a real ClientHello that Node's tls.connect sends with these options. */
async function captureHello(opts: { ALPNProtocols?: string[]; servername?: string }): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s: Socket) => {
      let buf = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
          s.destroy();
        }
      });
    });
  });
  const client = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
  client.on('error', () => undefined);
  const hello = await got;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return hello;
}

let meshHello: Buffer;
let h2Hello: Buffer;
let bareHello: Buffer;
test.before(async () => {
  meshHello = await captureHello({ ALPNProtocols: ['mtls-mesh'], servername: 'httpbin.foo' });
  h2Hello = await captureHello({ ALPNProtocols: ['h2', 'http/1.1'] });
  bareHello = await captureHello({});
});

test('a real mesh ClientHello: ALPN mtls-mesh and the SNI are read', (t) => {
  const p = parseClientHello(meshHello);
  t.is(p.status, 'complete');
  if (p.status !== 'complete') return;
  t.deepEqual(p.hello.alpn, ['mtls-mesh']);
  t.is(p.hello.serverName, 'httpbin.foo');
  t.is(p.hello.legacyVersion, 0x0303);
  t.true(p.hello.supportedVersions.includes(0x0304));
  t.is(p.bytes, meshHello.length);
  t.is(classifyFirstBytes(meshHello, false)?.kind, 'mesh-mtls');
});

test('other TLS (other ALPN, no ALPN) is tls, passed through', (t) => {
  const h2 = classifyFirstBytes(h2Hello, false);
  t.is(h2?.kind, 'tls');
  t.deepEqual(h2?.hello?.alpn, ['h2', 'http/1.1']);
  const bare = classifyFirstBytes(bareHello, false);
  t.is(bare?.kind, 'tls');
  t.deepEqual(bare?.hello?.alpn, []);
  t.is(bare?.hello?.serverName, undefined);
});

test('a hello cut at every offset is incomplete until its last byte, then decides', (t) => {
  for (let i = 1; i < meshHello.length; i++) {
    t.is(classifyFirstBytes(meshHello.subarray(0, i), false), undefined, `cut at ${i}`);
    t.is(classifyFirstBytes(meshHello.subarray(0, i), true)?.kind, 'malformed', `cut at ${i}, final`);
  }
});

test('a hello spread over two records is reassembled', (t) => {
  const msg = meshHello.subarray(5);
  const cut = 40;
  const rec = (frag: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, frag.length >> 8, frag.length & 0xff]), frag]);
  const two = Buffer.concat([rec(msg.subarray(0, cut)), rec(msg.subarray(cut))]);
  const p = parseClientHello(two);
  t.is(p.status, 'complete');
  if (p.status === 'complete') t.deepEqual(p.hello.alpn, ['mtls-mesh']);
  t.is(classifyFirstBytes(two.subarray(0, 5 + cut + 3), false), undefined);
});

test('plaintext and garbage never throw', (t) => {
  t.is(classifyFirstBytes(Buffer.from('GET / HTTP/1.1\r\n'), false)?.kind, 'plaintext');
  t.is(classifyFirstBytes(Buffer.from([0x16, 0x02]), false)?.kind, 'plaintext');
  t.is(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), false)?.kind, 'malformed');
  t.is(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01, 0x7f, 0xff]), false)?.kind, 'malformed');
  t.is(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0]), false)?.kind, 'malformed');
  t.is(classifyFirstBytes(Buffer.alloc(0), true)?.kind, 'plaintext');
  // Deterministic fuzz: random bytes, and the real hello with bytes flipped.
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
  for (let n = 0; n < 3000; n++) {
    const junk = Buffer.from(Array.from({ length: 1 + (n % 300) }, rnd));
    if (n % 2 === 0) junk[0] = 0x16;
    if (n % 4 === 0) junk[1] = 0x03;
    t.notThrows(() => classifyFirstBytes(junk, n % 3 === 0));
    const mutated = Buffer.from(meshHello);
    for (let k = 0; k < 1 + (n % 5); k++) mutated[(rnd() * 7 + rnd()) % mutated.length] = rnd();
    t.notThrows(() => parseClientHello(mutated));
  }
});

test('a record longer than the cap is too large and classifies as tls', (t) => {
  t.is(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), 1000).status, 'too-large');
  t.is(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]), false, 1000)?.kind, 'tls');
  t.is(MAX_SNIFF_BYTES, 16_384 + 5);
});

function fakeSocket(): PassThrough & Socket {
  return new PassThrough() as unknown as PassThrough & Socket;
}

test('the reader waits for a hello split over many chunks, then leaves every byte in place', async (t) => {
  const clock = new FakeClock(0);
  for (const cuts of [[1], [5], [6, 50], [3, 9, 100, meshHello.length - 1]]) {
    const s = fakeSocket();
    const p = sniffConnection(s, { timeoutMs: 1000, timer: clock });
    let from = 0;
    for (const c of [...cuts, meshHello.length]) {
      s.write(meshHello.subarray(from, c));
      from = c;
      await new Promise<void>((r) => setImmediate(r));
    }
    s.write(Buffer.from('after'));
    const r = await p;
    t.is(r.kind, 'mesh-mtls');
    t.false(r.timedOut);
    t.true(restoreSniffedBytes(s, r));
    const rest: Buffer[] = [];
    s.on('data', (c: Buffer) => rest.push(c));
    s.resume(); // the sniffer leaves the socket explicitly paused
    s.end();
    await new Promise<void>((r2) => s.once('end', r2));
    t.deepEqual(Buffer.concat(rest), Buffer.concat([meshHello, Buffer.from('after')]));
  }
});

test('a silent client is plaintext after the first-bytes timeout', async (t) => {
  const clock = new FakeClock(0);
  const s = fakeSocket();
  const p = sniffConnection(s, { timeoutMs: 500, timer: clock });
  clock.advance(499);
  clock.advance(1);
  const r = await p;
  t.is(r.kind, 'plaintext');
  t.true(r.timedOut);
  t.is(r.head.length, 0);
  t.is(clock.pending, 0);
});

test('a peer that ends mid-hello is malformed and ended', async (t) => {
  const clock = new FakeClock(0);
  const s = fakeSocket();
  const p = sniffConnection(s, { timeoutMs: 500, timer: clock });
  s.end(meshHello.subarray(0, 20));
  const r = await p;
  t.is(r.kind, 'malformed');
  t.true(r.ended);
  t.is(r.head.length, 20);
  t.false(restoreSniffedBytes(s, r));
});

test('plaintext decides on its first byte', async (t) => {
  const clock = new FakeClock(0);
  const s = fakeSocket();
  const p = sniffConnection(s, { timeoutMs: 500, timer: clock });
  s.write('G');
  const r = await p;
  t.is(r.kind, 'plaintext');
  t.is(r.head.toString(), 'G');
});
