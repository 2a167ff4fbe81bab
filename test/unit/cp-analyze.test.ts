import test from 'ava';
import { analyze, EXPIRY_WINDOWS_MS } from '../../control-plane/policy/analyze.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 25);

test('certificates are flagged inside their level window: warning, then error at the critical threshold', (t) => {
  const certs = [
    { level: 'workload' as const, name: 'w-ok', serialHex: '1', notAfterMs: NOW + 4 * 3_600_000 + 1 },
    { level: 'workload' as const, name: 'w-warn', serialHex: '2', notAfterMs: NOW + 4 * 3_600_000 },
    { level: 'workload' as const, name: 'w-crit', serialHex: '3', notAfterMs: NOW + 3_600_000 },
    { level: 'issuing' as const, name: 'i', serialHex: '4', notAfterMs: NOW + 29 * DAY },
    { level: 'intermediate' as const, name: 'm', serialHex: '5', notAfterMs: NOW + 181 * DAY },
    { level: 'root' as const, name: 'r', serialHex: '6', notAfterMs: NOW - 1 },
  ];
  const f = analyze([], [], certs, 'mesh-system', NOW);
  t.deepEqual(f.map((x) => [x.object, x.severity]), [
    ['workload w-warn (serial 2)', 'warning'],
    ['workload w-crit (serial 3)', 'error'],
    ['issuing i (serial 4)', 'warning'],
    ['root r (serial 6)', 'error'],
  ]);
  t.regex(f[3]?.message ?? '', /expired at/);
  t.deepEqual(EXPIRY_WINDOWS_MS.root, [730 * DAY, 180 * DAY]);
});
