import test from 'ava';
import { normalizePath } from '../../shared/policy/path.js';
import { matchString, pathPatternProblem } from '../../shared/policy/string-match.js';

// [raw request-target, normalised path | null (refused), why the case is here]
const NORMALISATION: readonly (readonly [string, string | null, string])[] = [
  ['/', '/', 'root'],
  ['/admin', '/admin', 'plain'],
  ['/admin/', '/admin/', 'trailing slash is kept'],
  ['/admin//', '/admin/', 'trailing slash run merged'],
  ['//admin', '/admin', 'leading // merged'],
  ['///admin///x', '/admin/x', 'runs of / merged'],
  ['/./admin', '/admin', 'dot segment'],
  ['/admin/.', '/admin/', 'trailing dot segment leaves a slash (RFC 3986)'],
  ['/api/../admin', '/admin', 'dot-dot segment'],
  ['/api/v1/../../admin', '/admin', 'two dot-dot segments'],
  ['/a/b/..', '/a/', 'trailing dot-dot leaves a slash'],
  ['/..', null, 'climbs above /'],
  ['/api/../../admin', null, 'climbs above / after a segment'],
  ['/%61dmin', '/admin', 'encoded unreserved letter'],
  ['/%41DMIN', '/ADMIN', 'encoded upper-case letter stays upper case'],
  ['/%2e%2e/admin', null, 'encoded dot-dot climbs above /'],
  ['/api/%2e%2e/admin', '/admin', 'encoded dot-dot is a dot segment'],
  ['/api/%2E/admin', '/api/admin', 'encoded dot is a dot segment'],
  ['/%7euser', '/~user', 'encoded tilde'],
  ['/a%2db_c', '/a-b_c', 'encoded hyphen'],
  ['/%2Fadmin', null, 'encoded slash (CVE-2021-31920)'],
  ['/%2fadmin', null, 'encoded slash, lower-case hex'],
  ['/%5Cadmin', null, 'encoded backslash (CVE-2021-31920)'],
  ['/%5cadmin', null, 'encoded backslash, lower-case hex'],
  ['/\\admin', null, 'raw backslash'],
  ['/admin%', null, 'truncated percent-encoding'],
  ['/admin%G1', null, 'non-hex percent-encoding'],
  ['/admin%00', null, 'encoded NUL'],
  ['/a%3bb', '/a%3Bb', 'encoded reserved character kept, hex upper-cased'],
  ['/a%20b', '/a%20b', 'encoded space kept'],
  ['/%252e%252e/admin', '/%252e%252e/admin', 'double encoding is decoded once at most (never a dot segment)'],
  ['/admin?x=1', '/admin', 'query is not part of the path'],
  ['/admin?x=/../public', '/admin', 'dot segments in the query are not resolved'],
  ['/admin#x', '/admin', 'fragment is not part of the path (CVE-2021-39156)'],
  ['/public#/../admin', '/public', 'fragment cannot climb'],
  ['/admin;x=1', '/admin', 'matrix parameter removed (istio/istio#27409)'],
  ['/admin;x=1/users;y', '/admin/users', 'matrix parameters removed from every segment'],
  ['/public/..;/admin', '/admin', 'Tomcat-style ..; is a dot-dot segment'],
  ['/;x=1/admin', '/admin', 'a segment that is only a parameter is empty'],
  ['/ADMIN', '/ADMIN', 'paths are case-sensitive'],
  ['/Admin/Users', '/Admin/Users', 'mixed case kept'],
  ['/admin/ ', null, 'space'],
  ['/admin\t', null, 'control character'],
  ['admin', null, 'no leading slash'],
  ['', null, 'empty'],
  ['?x=1', null, 'query only'],
  ['*', '*', 'OPTIONS * asterisk-form'],
  ['http://httpbin.foo:8000/api/../admin?q', '/admin', 'absolute-form is reduced to its path'],
  ['http://httpbin.foo', '/', 'absolute-form without a path'],
  ['/a/./b/../c//d/', '/a/c/d/', 'everything at once'],
];

test(`path normalisation table (${NORMALISATION.length} cases)`, (t) => {
  t.true(NORMALISATION.length >= 30);
  for (const [raw, want, why] of NORMALISATION) {
    const got = normalizePath(raw);
    if (want === null) t.false(got.ok, `${JSON.stringify(raw)} must be refused: ${why}`);
    else t.deepEqual(got, { ok: true, path: want }, `${JSON.stringify(raw)}: ${why}`);
  }
});

test('refusals carry a reason', (t) => {
  const r = normalizePath('/%2Fadmin');
  t.false(r.ok);
  if (!r.ok) t.regex(r.reason, /encoded slash/);
  const climb = normalizePath('/../etc/passwd');
  if (!climb.ok) t.regex(climb.reason, /climbs above/);
  else t.fail('climbing path accepted');
});

// Patterns as matched after normalisation: [pattern, normalised path, matches?]
const PATTERNS: readonly (readonly [string, string, boolean])[] = [
  ['/admin', '/admin', true],
  ['/admin', '/admin/', false],
  ['/admin', '/ADMIN', false],
  ['/admin/*', '/admin/', true],
  ['/admin/*', '/admin/users/1', true],
  ['/admin/*', '/admin', false],
  ['/admin*', '/administrator', true],
  ['*/info', '/api/v1/info', true],
  ['*/info', '/api/v1/info/', false],
  ['*.php', '/index.php', true],
  ['*', '/anything', true],
  ['/a.b', '/aXb', false],
  ['/a[0-9]', '/a1', false],
  ['/a[0-9]', '/a[0-9]', true],
];

test('path pattern matching: exact, prefix*, *suffix, * — nothing else is a pattern', (t) => {
  for (const [pattern, path, want] of PATTERNS) t.is(matchString(pattern, path), want, `${pattern} vs ${path}`);
});

test('method matching is case-sensitive (mixed-case methods do not match)', (t) => {
  t.true(matchString('GET', 'GET'));
  t.false(matchString('GET', 'get'));
  t.false(matchString('GET', 'Get'));
});

test('path patterns that could never match a normalised path are refused', (t) => {
  for (const ok of ['/api/*', '*/info', '/admin', '*', '/admin*', '/.well-known/*', '*.php', '/a%3Bb']) t.is(pathPatternProblem(ok), undefined, ok);
  for (const bad of ['admin', '/a/*/b', '*admin*', '/a/{*}', '/a/{**}/b', '//admin', '/api/../admin', '/%61dmin', '/a%3bb', '/admin;x', '/admin?x', '/a%2Fb', '/a\\b', '/api/.*']) {
    t.not(pathPatternProblem(bad), undefined, bad);
  }
});
