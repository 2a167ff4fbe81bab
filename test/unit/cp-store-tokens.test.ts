import test from 'ava';
import { mkdtemp, readFile, writeFile, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../shared/clock.js';
import { FileStore, StoreCorruptError } from '../../control-plane/store/index.js';
import { BootstrapTokens, AuthError, loadOrCreateAdminToken } from '../../control-plane/auth/index.js';

const tmp = (): Promise<string> => mkdtemp(join(tmpdir(), 'mesh-store-'));

test('file store: writes survive a reopen with increasing revisions', async (t) => {
  const dir = await tmp();
  const s = await FileStore.open(dir);
  const r1 = await s.put('tokens/a', { x: 1 });
  const r2 = await s.put('tokens/b', { x: 2 });
  const r3 = await s.put('tokens/a', { x: 3 });
  t.true(r1 < r2 && r2 < r3);
  t.true(await s.delete('tokens/b'));
  t.false(await s.delete('tokens/b'));
  const again = await FileStore.open(dir);
  t.deepEqual((await again.get('tokens/a'))?.value, { x: 3 });
  t.is(await again.get('tokens/b'), undefined);
  const r4 = await again.put('tokens/c', {});
  t.true(r4 > r3, 'revisions keep growing across restarts');
  t.is((await stat(join(dir, 'tokens', 'a.json'))).mode & 0o777, 0o600);
  t.deepEqual((await readdir(join(dir, 'tokens'))).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
});

test('file store: a corrupt file is reported by name, not replaced', async (t) => {
  const dir = await tmp();
  const s = await FileStore.open(dir);
  await s.put('tokens/a', { x: 1 });
  const path = join(dir, 'tokens', 'a.json');
  await writeFile(path, '{"revision": 1, "val');
  const err = await t.throwsAsync(FileStore.open(dir), { instanceOf: StoreCorruptError });
  t.true(err?.message.includes(path));
  t.is(await readFile(path, 'utf8'), '{"revision": 1, "val', 'the corrupt file is left for the operator');
});

test('file store: keys that could escape the directory are refused', async (t) => {
  const s = await FileStore.open(await tmp());
  await t.throwsAsync(s.put('../x', 1), { code: 'MESH_ERR_STORE_KEY' as never });
  await t.throwsAsync(s.put('a//b', 1), { code: 'MESH_ERR_STORE_KEY' as never });
});

test('bootstrap tokens: valid, expired, revoked, unknown, malformed', async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const store = await FileStore.open(await tmp());
  const tokens = new BootstrapTokens(store, clock, 'cluster.local');
  const created = await tokens.create('foo', 'httpbin', 3_600_000);
  t.regex(created.token, /^mesh\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
  t.deepEqual(await tokens.authenticate(created.token), { trustDomain: 'cluster.local', namespace: 'foo', serviceAccount: 'httpbin' });

  const stored = JSON.stringify((await store.list('tokens/'))[0]?.value);
  t.false(stored.includes(created.token.split('.')[2] ?? 'x'), 'the secret is stored only hashed');

  const wrongSecret = created.token.slice(0, -1) + (created.token.endsWith('A') ? 'B' : 'A');
  t.is((await t.throwsAsync(tokens.authenticate(wrongSecret), { instanceOf: AuthError }))?.reason, 'token-unknown');
  t.is((await t.throwsAsync(tokens.authenticate('mesh.0123456789abcdef.' + 'x'.repeat(43)), { instanceOf: AuthError }))?.reason, 'token-unknown');
  t.is((await t.throwsAsync(tokens.authenticate('hello'), { instanceOf: AuthError }))?.reason, 'token-malformed');

  clock.advance(3_600_000);
  t.is((await t.throwsAsync(tokens.authenticate(created.token), { instanceOf: AuthError }))?.reason, 'token-expired');

  const other = await tokens.create('bar', 'sleep', 3_600_000);
  await tokens.revoke(other.id);
  t.is((await t.throwsAsync(tokens.authenticate(other.token), { instanceOf: AuthError }))?.reason, 'token-revoked');
  t.deepEqual((await tokens.list()).map((v) => v.state).sort(), ['expired', 'revoked']);
});

test('admin token: created once with mode 0600, then reused', async (t) => {
  const dir = await tmp();
  const a = await loadOrCreateAdminToken(dir);
  const b = await loadOrCreateAdminToken(dir);
  t.is(a, b);
  t.is((await stat(join(dir, 'admin.token'))).mode & 0o777, 0o600);
  await writeFile(join(dir, 'admin.token'), 'short');
  await t.throwsAsync(loadOrCreateAdminToken(dir), { code: 'MESH_ERR_ADMIN_TOKEN_FILE' as never });
});
