import { readFile } from 'node:fs/promises';
import { parseAllDocuments, stringify } from 'yaml';
import { UsageError, errnoCode } from '../../../shared/errors.js';
import { str, strs, type ParsedCli } from '../../../shared/cli.js';
import { CONNECTION_FLAGS, apiClientFrom } from '../api-client.js';
import { displayName, kindInfo, parseKind } from '../../policy/kinds.js';
import type { PolicyKind, PolicyObject } from '../../../shared/policy/types.js';
import type { Command } from '../command.js';
import { readStdin } from '../stdin.js';
import { table } from './token.js';

interface Outcome {
  results: Result[];
  revision: number;
  converged?: boolean;
  stragglers?: { workload: string; spiffeId: string; lastNack?: { error: string } }[];
}

const WAIT_FLAG = { type: 'string', value: 'DURATION', help: 'wait until every affected proxy ACKed the change (e.g. 30s); exit 1 naming the ones that did not' } as const;

/** Reports a wait outcome; the exit code says whether every affected proxy applied the change. */
function reportWait(res: Outcome, out: NodeJS.WritableStream): number {
  if (res.converged === undefined) return 0;
  if (res.converged) {
    out.write(`revision ${res.revision}: every affected proxy applied it\n`);
    return 0;
  }
  for (const s of res.stragglers ?? []) out.write(`revision ${res.revision}: not applied by ${s.workload} (${s.spiffeId})${s.lastNack ? `: NACK ${s.lastNack.error}` : ''}\n`);
  return 1;
}

interface Result {
  kind: PolicyKind;
  namespace: string;
  name: string;
  outcome: string;
  revision?: number;
}

/**
 * Reads `-f FILE` (or `-` for stdin) as multi-document YAML; empty documents are skipped. With `-n NS`,
 * documents without metadata.namespace get it, and one naming another namespace is an error (as kubectl).
 */
async function readDocuments(files: readonly string[], namespace?: string): Promise<unknown[]> {
  if (files.length === 0) throw new UsageError('-f FILE is required (use - for standard input)');
  const docs: unknown[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = f === '-' ? await readStdin() : await readFile(f, 'utf8');
    } catch (e) {
      throw new UsageError(`-f: cannot read ${f} (${errnoCode(e) ?? String(e)})`);
    }
    for (const doc of parseAllDocuments(text)) {
      const err = doc.errors[0];
      if (err) throw new UsageError(`${f}: YAML error at line ${err.linePos?.[0]?.line ?? '?'}: ${err.message.split('\n')[0] ?? ''}`);
      const value: unknown = doc.toJS();
      if (value !== null && value !== undefined) docs.push(namespace === undefined ? value : withNamespace(value, namespace, f));
    }
  }
  if (docs.length === 0) throw new UsageError('no policy documents in the input');
  return docs;
}

function withNamespace(doc: unknown, namespace: string, file: string): unknown {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return doc;
  const meta: unknown = (doc as { metadata?: unknown }).metadata;
  if (meta !== undefined && (typeof meta !== 'object' || meta === null)) return doc;
  const ns = (meta as { namespace?: unknown } | undefined)?.namespace;
  if (ns !== undefined && ns !== namespace) {
    throw new UsageError(`${file}: the namespace from the document (${JSON.stringify(ns)}) does not match --namespace ${namespace}`);
  }
  return { ...doc, metadata: { ...meta, namespace } };
}


const line = (r: Result): string => `${displayName(r.kind, r.name)} ${r.outcome}${r.namespace ? ` (namespace ${r.namespace})` : ''}`;

export const apply: Command = {
  name: 'apply',
  usage: 'meshctl apply -f FILE|- [-f FILE…]',
  summary: 'Create or replace PeerAuthentication, DestinationRule and AuthorizationPolicy objects (also legacy MeshPolicy/Policy) from Istio-style YAML. Every document is validated first; one invalid document stores none.',
  flags: {
    filename: { type: 'string', short: 'f', value: 'FILE', multiple: true, help: 'YAML file, - for standard input' },
    namespace: { type: 'string', short: 'n', value: 'NS', help: 'namespace for documents that name none (metadata.namespace)' },
    wait: WAIT_FLAG,
    ...CONNECTION_FLAGS,
  },
  async run(values, positionals, out) {
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const documents = await readDocuments(strs(values, 'filename'), str(values, 'namespace'));
    const api = await apiClientFrom(values);
    const res = await api.request<Outcome>('POST', `/api/v1/apply${waitQuery(values)}`, { documents });
    for (const r of res.results) out.write(`${line(r)}\n`);
    return reportWait(res, out);
  },
};

export const del: Command = {
  name: 'delete',
  usage: 'meshctl delete KIND NAME -n NS | meshctl delete -f FILE|-',
  summary: 'Delete policies by kind and name, or every policy named in a YAML file.',
  flags: {
    filename: { type: 'string', short: 'f', value: 'FILE', multiple: true, help: 'YAML file, - for standard input' },
    namespace: { type: 'string', short: 'n', value: 'NS', default: 'default', help: 'namespace of the policy (with -f: for documents that name none)' },
    wait: WAIT_FLAG,
    ...CONNECTION_FLAGS,
  },
  async run(values, positionals, out) {
    const api = await apiClientFrom(values);
    const files = strs(values, 'filename');
    if (files.length) {
      if (positionals.length) throw new UsageError('give either -f FILE or KIND NAME, not both');
      const res = await api.request<Outcome>('POST', `/api/v1/delete${waitQuery(values)}`, { documents: await readDocuments(files, str(values, 'namespace')) });
      for (const r of res.results) out.write(`${line(r)}\n`);
      const waited = reportWait(res, out);
      return res.results.every((r) => r.outcome === 'deleted') ? waited : 1;
    }
    const [kindText, name, extra] = positionals;
    if (!kindText || !name || extra !== undefined) throw new UsageError('want KIND NAME (e.g. meshctl delete peerauthentication default -n foo) or -f FILE');
    const kind = kindArg(kindText);
    const ns = str(values, 'namespace') ?? 'default';
    const r = await api.request<Result>('DELETE', `/api/v1/policies/${kind}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
    out.write(`${line(r)}\n`);
    return 0;
  },
};

export const get: Command = {
  name: 'get',
  usage: 'meshctl get KIND [NAME] [-n NS | -A] [-o text|yaml|json]',
  summary: 'Show stored policies of a kind (pa, dr, ap or the full kind name).',
  flags: {
    namespace: { type: 'string', short: 'n', value: 'NS', help: 'only this namespace' },
    'all-namespaces': { type: 'boolean', short: 'A', help: 'every namespace (the default without -n)' },
    output: { type: 'string', short: 'o', value: 'FORMAT', default: 'text', help: 'text|yaml|json' },
    ...CONNECTION_FLAGS,
  },
  async run(values: ParsedCli['values'], positionals, out) {
    const [kindText, name, extra] = positionals;
    if (!kindText || extra !== undefined) throw new UsageError('want KIND [NAME]');
    const kind = kindArg(kindText);
    const format = str(values, 'output') ?? 'text';
    if (!['text', 'yaml', 'json'].includes(format)) throw new UsageError(`--output: want text|yaml|json, got ${JSON.stringify(format)}`);
    const ns = str(values, 'namespace');
    const api = await apiClientFrom(values);
    let items: { object: PolicyObject; revision: number; updatedAt: string }[];
    if (name) {
      if (!ns) throw new UsageError('--namespace is required with a NAME');
      items = [await api.request('GET', `/api/v1/policies/${kind}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`)];
    } else {
      items = (await api.request<{ items: typeof items }>('GET', `/api/v1/policies/${kind}${ns ? `?namespace=${encodeURIComponent(ns)}` : ''}`)).items;
    }
    const objects = items.map((i) => ({ apiVersion: kindInfo(i.object.kind).apiVersion, ...i.object }));
    if (format === 'json') out.write(`${JSON.stringify(name ? objects[0] : { items: objects }, null, 2)}\n`);
    else if (format === 'yaml') out.write(objects.map((o) => stringify(o)).join('---\n'));
    else out.write(table([['NAMESPACE', 'NAME', 'REVISION', 'SUMMARY', 'UPDATED'], ...items.map((i) => [i.object.metadata.namespace, i.object.metadata.name, String(i.revision), describe(i.object), i.updatedAt])]));
    return 0;
  },
};

function waitQuery(values: ParsedCli['values']): string {
  const w = str(values, 'wait');
  return w === undefined ? '' : `?wait=${encodeURIComponent(w)}`;
}

function kindArg(text: string): PolicyKind {
  const kind = parseKind(text);
  if (!kind) throw new UsageError(`unknown kind ${JSON.stringify(text)}: want peerauthentication (pa), destinationrule (dr) or authorizationpolicy (ap)`);
  return kind;
}

function describe(o: PolicyObject): string {
  switch (o.kind) {
    case 'PeerAuthentication': {
      const sel = o.spec.selector ? ` selector ${Object.entries(o.spec.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(',')}` : '';
      const ports = o.spec.portLevelMtls ? ` ports ${Object.entries(o.spec.portLevelMtls).map(([p, m]) => `${p}:${m.mode}`).join(',')}` : '';
      return `mtls ${o.spec.mtls?.mode ?? 'UNSET'}${ports}${sel}`;
    }
    case 'DestinationRule':
      return `host ${o.spec.host} tls ${o.spec.trafficPolicy?.tls?.mode ?? '-'}`;
    case 'AuthorizationPolicy':
      return `${o.spec.action ?? 'ALLOW'} ${o.spec.rules?.length ?? 0} rule(s)${o.spec.selector ? ' (selector)' : ''}`;
  }
}
