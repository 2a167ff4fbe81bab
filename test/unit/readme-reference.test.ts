import test from 'ava';
import { readFileSync } from 'node:fs';
import { CONTROL_PLANE_FLAGS } from '../../control-plane/config.js';
import { PROXY_FLAGS } from '../../proxy/src/config.js';
import { COMMANDS } from '../../control-plane/cli/commands/index.js';
import type { FlagDefs } from '../../shared/cli.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

function section(title: string): string {
  const start = README.indexOf(`### \`${title}\``);
  if (start < 0) return '';
  const end = README.indexOf('\n### ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

function checkFlags(t: import('ava').ExecutionContext, where: string, flags: FlagDefs): void {
  const text = section(where);
  t.not(text, '', `README has a section for ${where}`);
  for (const [name, def] of Object.entries(flags)) {
    t.true(text.includes(`--${name}`), `${where}: --${name} is documented`);
    if (def.env) t.true(text.includes(def.env), `${where}: env ${def.env} is documented`);
  }
}

test('README documents every control plane flag and its env var', (t) => checkFlags(t, 'mesh-control-plane', CONTROL_PLANE_FLAGS));
test('README documents every proxy flag and its env var', (t) => checkFlags(t, 'mesh-proxy', PROXY_FLAGS));
test('README documents every meshctl command and flag', (t) => {
  const text = section('meshctl');
  for (const c of COMMANDS) {
    t.true(text.includes(`meshctl ${c.name}`), `meshctl ${c.name} is documented`);
    checkFlags(t, 'meshctl', c.flags);
  }
});
test('the README shows the two commands', (t) => {
  t.true(README.includes('npm install && npm run demo'));
  t.true(README.includes('npm test'));
});
