import test from 'ava';
import { PolicyUnsupportedError, parseResolvedPolicy } from '../../proxy/src/policy/index.js';

const base = {
  schema: 1,
  inboundMode: 'PERMISSIVE',
  portModes: { '8080': 'STRICT' },
  clientTls: [{ host: 'httpbin.foo.svc.cluster.local', port: 8000, mode: 'ISTIO_MUTUAL', source: 'foo/httpbin' }],
  authorization: [
    {
      name: 'foo/allow-frontend',
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/foo/sa/frontend'], notNamespaces: ['bar'], ipBlocks: ['10.0.0.0/8'] } }],
          to: [{ operation: { methods: ['GET', 'POST'], paths: ['/api/*'], ports: ['8080'], notHosts: ['*.internal'] } }],
          when: [
            { key: 'request.headers[X-Tenant]', values: ['a', 'b*'] },
            { key: 'source.ip', notValues: ['10.1.0.0/16'] },
            { key: 'destination.port', values: ['8080'] },
          ],
        },
        {},
      ],
    },
    { name: 'foo/deny-all', action: 'DENY', rules: [] },
  ],
};

function refusal(doc: unknown): PolicyUnsupportedError {
  const err = (() => {
    try {
      parseResolvedPolicy(typeof doc === 'string' ? doc : JSON.stringify(doc));
    } catch (e) {
      return e;
    }
    throw new Error('parseResolvedPolicy accepted the document');
  })();
  if (!(err instanceof PolicyUnsupportedError)) throw new Error(`unexpected error ${String(err)}`);
  return err;
}

const DELETE = Symbol('delete');

/** A deep copy of `base` with the value at `path` replaced (or deleted). */
function variant(path: readonly (string | number)[], value: unknown): unknown {
  const d: unknown = JSON.parse(JSON.stringify(base));
  let o: unknown = d;
  for (const k of path.slice(0, -1)) o = (o as Record<string | number, unknown>)[k];
  const last = path[path.length - 1] ?? '';
  const target = o as Record<string | number, unknown>;
  if (value === DELETE) delete target[last];
  else target[last] = value;
  return d;
}

test('parses a complete policy into a frozen copy of the known fields', (t) => {
  const p = parseResolvedPolicy(JSON.stringify(base));
  t.is(p.inboundMode, 'PERMISSIVE');
  t.deepEqual(p.portModes, { '8080': 'STRICT' });
  t.is(p.clientTls[0]?.port, 8000);
  t.is(p.authorization.length, 2);
  t.deepEqual(p.authorization[0]?.rules[1], {});
  t.deepEqual(p.authorization[0]?.rules[0]?.when?.[0], { key: 'request.headers[X-Tenant]', values: ['a', 'b*'] });
  t.true(Object.isFrozen(p));
  t.true(Object.isFrozen(p.authorization[0]?.rules[0]?.from?.[0]?.source));
});

test('MESH_MUTUAL is read as ISTIO_MUTUAL', (t) => {
  const p = parseResolvedPolicy(JSON.stringify(variant(['clientTls', 0, 'mode'], 'MESH_MUTUAL')));
  t.is(p.clientTls[0]?.mode, 'ISTIO_MUTUAL');
});

test('refuses what it does not understand, naming the field (CVE-2022-21679: never enforce half a policy)', (t) => {
  const cases: [string, unknown, string][] = [
    ['unknown schema', variant(['schema'], 2), 'schema'],
    ['schema missing', variant(['schema'], DELETE), 'schema'],
    ['unknown top-level field', variant(['jwtRules'], []), 'jwtRules'],
    ['missing authorization', variant(['authorization'], DELETE), 'authorization'],
    ['bad inbound mode', variant(['inboundMode'], 'UNSET'), 'inboundMode'],
    ['bad port mode', variant(['portModes', '8080'], 'strict'), 'portModes.8080'],
    ['bad port key', variant(['portModes', 'http'], 'STRICT'), 'portModes.http'],
    ['non-canonical port key', variant(['portModes', '08080'], 'STRICT'), 'portModes.08080'],
    ['bad client TLS mode', variant(['clientTls', 0, 'mode'], 'SIMPLE'), 'clientTls[0].mode'],
    ['unknown client TLS field', variant(['clientTls', 0, 'sni'], 'x'), 'clientTls[0].sni'],
    ['client TLS port out of range', variant(['clientTls', 0, 'port'], 70000), 'clientTls[0].port'],
    ['AUDIT action', variant(['authorization', 1, 'action'], 'AUDIT'), 'authorization[1].action'],
    ['CUSTOM action', variant(['authorization', 1, 'action'], 'CUSTOM'), 'authorization[1].action'],
    ['unknown policy field', variant(['authorization', 1, 'provider'], { name: 'x' }), 'authorization[1].provider'],
    ['unknown rule field', variant(['authorization', 0, 'rules', 1, 'unless'], []), 'authorization[0].rules[1].unless'],
    ['JWT principals', variant(['authorization', 0, 'rules', 0, 'from', 0, 'source', 'requestPrincipals'], ['*']), 'authorization[0].rules[0].from[0].source.requestPrincipals'],
    ['unknown operation field', variant(['authorization', 0, 'rules', 0, 'to', 0, 'operation', 'pathPrefix'], '/a'), 'authorization[0].rules[0].to[0].operation.pathPrefix'],
    ['unknown when key', variant(['authorization', 0, 'rules', 0, 'when', 0, 'key'], 'request.auth.claims[iss]'), 'authorization[0].rules[0].when[0].key'],
    ['another unknown when key', variant(['authorization', 0, 'rules', 0, 'when', 1, 'key'], 'destination.ip'), 'authorization[0].rules[0].when[1].key'],
    ['unknown condition field', variant(['authorization', 0, 'rules', 0, 'when', 0, 'regex'], '.*'), 'authorization[0].rules[0].when[0].regex'],
    ['condition without values', variant(['authorization', 0, 'rules', 0, 'when', 2, 'values'], DELETE), 'authorization[0].rules[0].when[2]'],
    ['empty source', variant(['authorization', 0, 'rules', 0, 'from', 0, 'source'], {}), 'authorization[0].rules[0].from[0].source'],
    ['from entry without source', variant(['authorization', 0, 'rules', 0, 'from', 0], {}), 'authorization[0].rules[0].from[0].source'],
    ['bad ip block', variant(['authorization', 0, 'rules', 0, 'from', 0, 'source', 'ipBlocks'], ['10.0.0.0/33']), 'authorization[0].rules[0].from[0].source.ipBlocks[0]'],
    ['middle wildcard', variant(['authorization', 0, 'rules', 0, 'from', 0, 'source', 'principals'], ['cluster.local/*/sa/x']), 'authorization[0].rules[0].from[0].source.principals[0]'],
    ['path template', variant(['authorization', 0, 'rules', 0, 'to', 0, 'operation', 'paths'], ['/api/{*}']), 'authorization[0].rules[0].to[0].operation.paths[0]'],
    ['bad port value', variant(['authorization', 0, 'rules', 0, 'to', 0, 'operation', 'ports'], ['http']), 'authorization[0].rules[0].to[0].operation.ports[0]'],
    ['non-string value', variant(['authorization', 0, 'rules', 0, 'to', 0, 'operation', 'methods'], [1]), 'authorization[0].rules[0].to[0].operation.methods[0]'],
    ['rules not a list', variant(['authorization', 1, 'rules'], {}), 'authorization[1].rules'],
    ['prototype key', '{"schema":1,"inboundMode":"STRICT","portModes":{},"clientTls":[],"authorization":[],"__proto__":{"x":1}}', '__proto__'],
    ['not JSON', '{"schema":1,', '$'],
    ['not an object', '[1]', '$'],
  ];
  for (const [name, doc, field] of cases) {
    const err = refusal(doc);
    t.is(err.code, 'MESH_ERR_POLICY_UNSUPPORTED', name);
    t.is(err.field, field, name);
    t.true(err.message.includes(field), name);
  }
});
