import { EventEmitter } from 'node:events';
import type { Clock } from '../../shared/clock.js';
import type { PolicyKind, PolicyObject } from '../../shared/policy/types.js';
import type { Store } from '../store/index.js';

const PREFIX = 'policies/';
// Deletions have no entry left to carry their revision: this key records the last one, so that
// revisions never go back after a restart.
const DELETED_KEY = 'policy-meta/last-delete';

interface OnDisk {
  readonly object: PolicyObject;
  readonly updatedAt: string;
}

export interface StoredPolicy extends OnDisk {
  readonly revision: number;
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

export interface ChangeEvent {
  readonly revision: number;
  /** Monotonic ms when the change was acknowledged, for push latency. */
  readonly atMs: number;
}

const keyOf = (kind: PolicyKind, namespace: string, name: string): string => `${PREFIX}${kind}/${namespace}/${name}`;

/**
 * Policies by kind, namespace and name, persisted through the store. Every change gets a revision
 * greater than any before it (the store's). Emits 'changed' (ChangeEvent) after the write is durable.
 */
export class PolicyStore extends EventEmitter {
  readonly #byKey = new Map<string, StoredPolicy>();
  #revision = 0;

  private constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    super();
  }

  static async open(store: Store, clock: Clock): Promise<PolicyStore> {
    const ps = new PolicyStore(store, clock);
    for (const e of await store.list<OnDisk>(PREFIX)) {
      ps.#byKey.set(e.key, { ...e.value, revision: e.revision });
      ps.#revision = Math.max(ps.#revision, e.revision);
    }
    ps.#revision = Math.max(ps.#revision, (await store.get(DELETED_KEY))?.revision ?? 0);
    return ps;
  }

  get revision(): number {
    return this.#revision;
  }

  all(): PolicyObject[] {
    return [...this.#byKey.values()].map((s) => s.object);
  }

  list(kind: PolicyKind, namespace?: string): StoredPolicy[] {
    return [...this.#byKey.entries()]
      .filter(([k]) => k.startsWith(`${PREFIX}${kind}/${namespace === undefined ? '' : `${namespace}/`}`))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, v]) => v);
  }

  get(kind: PolicyKind, namespace: string, name: string): StoredPolicy | undefined {
    return this.#byKey.get(keyOf(kind, namespace, name));
  }

  /** Stores validated objects in order; returns what happened to each. One 'changed' for the batch. */
  async apply(objects: readonly PolicyObject[]): Promise<{ object: PolicyObject; outcome: ApplyOutcome; revision: number }[]> {
    const out: { object: PolicyObject; outcome: ApplyOutcome; revision: number }[] = [];
    for (const object of objects) {
      const key = keyOf(object.kind, object.metadata.namespace, object.metadata.name);
      const prev = this.#byKey.get(key);
      if (prev && JSON.stringify(prev.object) === JSON.stringify(object)) {
        out.push({ object, outcome: 'unchanged', revision: prev.revision });
        continue;
      }
      // The store's revision is global and monotonic, and persisted with the entry.
      const value: OnDisk = { object, updatedAt: new Date(this.clock.now()).toISOString() };
      const revision = await this.store.put(key, value);
      this.#byKey.set(key, { ...value, revision });
      this.#revision = Math.max(this.#revision, revision);
      out.push({ object, outcome: prev ? 'configured' : 'created', revision });
    }
    if (out.some((o) => o.outcome !== 'unchanged')) this.#changed();
    return out;
  }

  async delete(kind: PolicyKind, namespace: string, name: string): Promise<StoredPolicy | undefined> {
    const key = keyOf(kind, namespace, name);
    const prev = this.#byKey.get(key);
    if (!prev) return undefined;
    const revision = await this.store.put(DELETED_KEY, { key, at: new Date(this.clock.now()).toISOString() });
    await this.store.delete(key);
    this.#byKey.delete(key);
    this.#revision = Math.max(this.#revision, revision);
    this.#changed();
    return prev;
  }

  #changed(): void {
    this.emit('changed', { revision: this.#revision, atMs: this.clock.monotonic() } satisfies ChangeEvent);
  }
}
