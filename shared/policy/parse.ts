// Policy objects enter here, from YAML (`meshctl apply -f`) or JSON (REST), and leave validated, typed and
// frozen. Validation is strict: every unknown field, bad value and unsupported Istio feature is reported
// with its path, all at once, and nothing is returned if anything is wrong.
//
// Namespaces: a missing metadata.namespace is `default` (as kubectl without -n; `defaultNamespace`
// overrides it). `istio-system` is an alias of the root namespace, so Istio YAML for mesh-wide policy
// works unchanged: such objects are stored in the configured root namespace (default `mesh-system`).
// Legacy MeshPolicy is cluster-scoped and is stored in the root namespace under its own name (a
// namespace written on it is ignored, as the API server does).
import { parseAllDocuments } from 'yaml';
import { PolicyInvalidError, type PolicyProblem } from './errors.js';
import { FieldCheck, describe, isRecord } from './field-check.js';
import { isDns1123Label, isDns1123Subdomain, labelValueProblem } from './names.js';
import { checkAuthorizationPolicySpec } from './parse-authorization-policy.js';
import { checkDestinationRuleSpec } from './parse-destination-rule.js';
import { translateLegacySpec } from './parse-legacy-authn.js';
import { checkPeerAuthenticationSpec } from './parse-peer-authentication.js';
import { checkStringMap } from './selector.js';
import type { ObjectMeta, PolicyKind, PolicyObject } from './types.js';

export const DEFAULT_ROOT_NAMESPACE = 'mesh-system';
/** Istio's root namespace; accepted as an alias of the configured one. */
export const ISTIO_ROOT_NAMESPACE = 'istio-system';
export const DEFAULT_NAMESPACE = 'default';
/** Set on PeerAuthentications translated from a legacy MeshPolicy/Policy: `apiVersion/Kind` of the original. */
export const TRANSLATED_FROM_ANNOTATION = 'mtls-mesh.io/translated-from';

export interface PolicyParseOptions {
  /** Where mesh-wide policy lives (`--root-namespace`, default `mesh-system`). */
  readonly rootNamespace: string;
  /** For objects without metadata.namespace; default `default`. */
  readonly defaultNamespace?: string;
}

type InputKind = PolicyKind | 'MeshPolicy' | 'Policy';

const API_VERSIONS: Readonly<Record<InputKind, readonly string[]>> = {
  PeerAuthentication: ['security.istio.io/v1beta1', 'security.istio.io/v1'],
  DestinationRule: ['networking.istio.io/v1alpha3', 'networking.istio.io/v1beta1', 'networking.istio.io/v1'],
  AuthorizationPolicy: ['security.istio.io/v1beta1', 'security.istio.io/v1'],
  MeshPolicy: ['authentication.istio.io/v1alpha1'],
  Policy: ['authentication.istio.io/v1alpha1'],
};
const INPUT_KINDS = Object.keys(API_VERSIONS) as InputKind[];

const SERVER_SET = 'set by the API server: remove it from the manifest';
const REFUSED_METADATA: Readonly<Record<string, string>> = {
  generateName: 'generateName is not supported: give metadata.name',
  resourceVersion: SERVER_SET,
  uid: SERVER_SET,
  creationTimestamp: SERVER_SET,
  generation: SERVER_SET,
  managedFields: SERVER_SET,
  selfLink: SERVER_SET,
  deletionTimestamp: SERVER_SET,
  deletionGracePeriodSeconds: SERVER_SET,
};

interface Checked {
  readonly object?: PolicyObject;
  readonly problems: PolicyProblem[];
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

function checkMetadata(c: FieldCheck, raw: unknown, kind: InputKind | undefined, opts: PolicyParseOptions): { name?: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> } {
  const fallback = opts.defaultNamespace ?? DEFAULT_NAMESPACE;
  const meta: { name?: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> } = { namespace: fallback };
  if (raw === undefined) {
    c.fail('metadata', 'required (with at least metadata.name)');
    return meta;
  }
  const o = c.record(raw, 'metadata', ['name', 'namespace', 'labels', 'annotations'], REFUSED_METADATA);
  if (!o) return meta;
  if (o.name === undefined) c.fail('metadata.name', 'required');
  else {
    const name = c.string(o.name, 'metadata.name');
    if (name !== undefined) {
      if (!isDns1123Subdomain(name)) c.fail('metadata.name', `${JSON.stringify(name)} is not a DNS-1123 name (lower case, digits, - and ., at most 253 characters)`);
      meta.name = name;
    }
  }
  if (o.namespace !== undefined) {
    const ns = c.string(o.namespace, 'metadata.namespace');
    if (ns !== undefined) {
      if (!isDns1123Label(ns)) c.fail('metadata.namespace', `${JSON.stringify(ns)} is not a namespace (DNS-1123 label: lower case, digits, -, at most 63 characters)`);
      meta.namespace = ns;
    }
  }
  // Cluster-scoped: like the API server (and `kubectl apply -n`), any namespace given is ignored.
  if (kind === 'MeshPolicy') meta.namespace = opts.rootNamespace;
  if (meta.namespace === ISTIO_ROOT_NAMESPACE) meta.namespace = opts.rootNamespace;
  if (o.labels !== undefined) {
    const labels = checkStringMap(c, o.labels, 'metadata.labels', labelValueProblem);
    if (labels && Object.keys(labels).length > 0) meta.labels = labels;
  }
  if (o.annotations !== undefined) {
    const annotations = checkStringMap(c, o.annotations, 'metadata.annotations', () => undefined);
    if (annotations && Object.keys(annotations).length > 0) meta.annotations = annotations;
  }
  return meta;
}

function checkKind(c: FieldCheck, o: Record<string, unknown>): InputKind | undefined {
  if (o.kind === undefined) {
    c.fail('kind', `required: one of ${INPUT_KINDS.join(', ')}`);
    return undefined;
  }
  const kind = c.oneOf(o.kind, 'kind', INPUT_KINDS);
  if (kind === undefined) return undefined;
  const versions = API_VERSIONS[kind];
  if (o.apiVersion === undefined) c.fail('apiVersion', `required: ${versions.join(' or ')} for ${kind}`);
  else if (typeof o.apiVersion !== 'string' || !versions.includes(o.apiVersion)) {
    c.fail('apiVersion', `want ${versions.join(' or ')} for ${kind}, got ${describe(o.apiVersion)}`);
  }
  return kind;
}

function checkOne(raw: unknown, opts: PolicyParseOptions, document?: number): Checked {
  const c = new FieldCheck();
  const label = (kind?: string, ns?: string, name?: string): string => {
    if (kind === undefined || name === undefined) return document === undefined ? (kind ?? 'policy object') : `document ${document}`;
    return kind === 'MeshPolicy' ? `${kind} ${name}` : `${kind} ${ns}/${name}`;
  };
  const done = (object: string, result?: PolicyObject): Checked => ({
    problems: c.problems.map((p) => ({ ...(document === undefined ? {} : { document }), object, path: p.path, reason: p.reason })),
    ...(c.problems.length === 0 && result ? { object: deepFreeze(result) } : {}),
  });

  if (!isRecord(raw)) {
    c.fail('', `want a policy object (apiVersion, kind, metadata, spec), got ${describe(raw)}`);
    return done(label());
  }
  const o = c.record(raw, '', ['apiVersion', 'kind', 'metadata', 'spec'], { status: 'status is set by the system: remove it from the manifest' }) ?? {};
  const kind = checkKind(c, o);
  const meta = checkMetadata(c, o.metadata, kind, opts);
  const where = label(kind, meta.namespace, meta.name);
  if (kind === undefined) return done(where);

  const metadata: ObjectMeta = {
    name: meta.name ?? '',
    namespace: meta.namespace,
    ...(meta.labels ? { labels: meta.labels } : {}),
    ...(meta.annotations ? { annotations: meta.annotations } : {}),
  };
  switch (kind) {
    case 'PeerAuthentication':
      return done(where, { kind, metadata, spec: checkPeerAuthenticationSpec(c, o.spec, { namespace: meta.namespace, rootNamespace: opts.rootNamespace }) });
    case 'DestinationRule':
      return done(where, { kind, metadata, spec: checkDestinationRuleSpec(c, o.spec) });
    case 'AuthorizationPolicy':
      return done(where, { kind, metadata, spec: checkAuthorizationPolicySpec(c, o.spec) });
    case 'MeshPolicy':
    case 'Policy': {
      const spec = translateLegacySpec(c, o.spec, kind);
      if (spec.targets && meta.namespace === opts.rootNamespace) {
        c.fail('spec.targets', `targets in the root namespace (${opts.rootNamespace}) would apply to nothing: put the Policy in the service's namespace`);
      }
      const annotations = { ...metadata.annotations, [TRANSLATED_FROM_ANNOTATION]: `${API_VERSIONS[kind][0] ?? ''}/${kind}` };
      return done(where, { kind: 'PeerAuthentication', metadata: { ...metadata, annotations }, spec });
    }
  }
}

/** One policy object (a REST body, or one YAML document already parsed); throws PolicyInvalidError. */
export function validatePolicy(raw: unknown, opts: PolicyParseOptions): PolicyObject {
  const r = checkOne(raw, opts);
  if (!r.object) throw new PolicyInvalidError(r.problems);
  return r.object;
}

const objectKey = (o: PolicyObject): string => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;

/**
 * Every object in a multi-document YAML text (`---` separated; empty documents are skipped). All
 * documents are checked and every problem is reported in one PolicyInvalidError, so that an apply stores
 * all of them or none. The same object twice in one text is refused.
 */
export function parsePolicyDocuments(text: string, opts: PolicyParseOptions): PolicyObject[] {
  const problems: PolicyProblem[] = [];
  const objects: PolicyObject[] = [];
  const seen = new Map<string, number>();
  let n = 0;
  for (const doc of parseAllDocuments(text)) {
    n++;
    const document = n;
    const yamlError = doc.errors[0];
    if (yamlError) {
      const line = yamlError.linePos?.[0]?.line;
      const message = yamlError.message.split('\n')[0] ?? '';
      problems.push({ document, object: `document ${document}`, path: '', reason: `YAML syntax${line === undefined ? '' : ` (line ${line})`}: ${message}` });
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      problems.push({ document, object: `document ${document}`, path: '', reason: `YAML: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    if (value === null || value === undefined) continue;
    const r = checkOne(value, opts, document);
    problems.push(...r.problems);
    if (!r.object) continue;
    const key = objectKey(r.object);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({ document, object: `${r.object.kind} ${r.object.metadata.namespace}/${r.object.metadata.name}`, path: '', reason: `the same object as document ${first}` });
      continue;
    }
    seen.set(key, document);
    objects.push(r.object);
  }
  if (problems.length > 0) throw new PolicyInvalidError(problems);
  return objects;
}
