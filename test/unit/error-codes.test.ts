import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('docs/errors.md lists every error code in the source, and no dead ones', (t) => {
  const inSource = new Set<string>();
  for (const dir of ['shared', 'control-plane', 'proxy']) {
    for (const f of sources(join(ROOT, dir))) for (const m of readFileSync(f, 'utf8').matchAll(/'(MESH_ERR_[A-Z0-9_]+)'/g)) inSource.add(m[1] ?? '');
  }
  const documented = new Set([...readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8').matchAll(/^\| `(MESH_ERR_[A-Z0-9_]+)`/gm)].map((m) => m[1] ?? ''));
  t.true(inSource.size > 10);
  t.deepEqual([...inSource].filter((c) => !documented.has(c)).sort(), [], 'codes missing from docs/errors.md');
  t.deepEqual([...documented].filter((c) => !inSource.has(c)).sort(), [], 'documented codes nobody raises');
});
