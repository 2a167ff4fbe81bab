import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RULES = `${ROOT}manifests/prometheus-rules.yaml`;

test('promtool accepts the alert rules', async (t) => {
  const { stdout } = await run('promtool', ['check', 'rules', RULES]);
  t.regex(stdout, /SUCCESS: 10 rules found/);
});

test('promtool unit tests: each alert fires exactly at its threshold and not before', async (t) => {
  const { stdout } = await run('promtool', ['test', 'rules', 'prometheus-rules.test.yaml'], { cwd: `${ROOT}test/fixtures` });
  t.regex(stdout, /SUCCESS/);
});

test('the rules only use metrics the mesh exports', (t) => {
  const names = new Set([...readFileSync(RULES, 'utf8').matchAll(/\b(mesh_[a-z_]+)\b/g)].map((m) => m[1] ?? ''));
  const sources = ['proxy/src/metrics.ts', 'control-plane/metrics.ts'].map((f) => readFileSync(`${ROOT}${f}`, 'utf8')).join('\n');
  for (const n of names) t.true(sources.includes(`'${n}'`), `${n} is exported by a proxy or the control plane`);
});
