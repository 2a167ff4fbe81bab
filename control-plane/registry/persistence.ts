import { createHash } from 'node:crypto';
import type { Clock, Timer } from '../../shared/clock.js';
import type { Logger } from '../../shared/logging.js';
import { asError } from '../../shared/errors.js';
import type { Store } from '../store/index.js';
import type { Registration } from './registration.js';
import type { ServiceRegistry } from './service-registry.js';

const PREFIX = 'registry/';
/** How long restored registrations serve without their workload reconnecting. */
export const RESTORE_GRACE_MS = 120_000;

/** The store key of a workload: SPIFFE ID + instance id, hashed (instance ids are free-form). */
export function workloadKey(reg: Pick<Registration, 'spiffeId' | 'workloadId'>): string {
  return createHash('sha256').update(`${reg.spiffeId}\n${reg.workloadId}`).digest('hex').slice(0, 32);
}

/**
 * Mirrors live registrations into the store so that a restarted control plane knows where services
 * were. Writes are ordered per workload and failures are logged: the registry in memory stays the truth
 * for the running process.
 */
export class RegistryPersistence {
  #timer: Timer | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #stopping = false;

  constructor(
    private readonly store: Store,
    private readonly registry: ServiceRegistry,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async restore(): Promise<number> {
    const entries = await this.store.list<Registration>(PREFIX);
    for (const e of entries) this.registry.restore(e.key.slice(PREFIX.length), e.value);
    if (entries.length) {
      this.log.info({ workloads: entries.length, graceMs: RESTORE_GRACE_MS }, 'registry restored from the store; serving it until workloads reconnect');
      this.#timer = this.clock.setTimer(RESTORE_GRACE_MS, () => {
        for (const key of this.registry.dropUnconfirmed()) this.#write(() => this.store.delete(PREFIX + key));
      });
    }
    return entries.length;
  }

  saved(key: string, reg: Registration): void {
    this.#write(() => this.store.put(PREFIX + key, reg));
  }

  /** A workload left (its stream closed): forget it — unless we are the ones shutting down. */
  removed(key: string): void {
    if (this.#stopping) return;
    this.#write(() => this.store.delete(PREFIX + key));
  }

  /** From here on, closing streams is our shutdown, not workloads leaving. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#timer?.cancel();
    await this.#queue;
  }

  #write(op: () => Promise<unknown>): void {
    this.#queue = this.#queue.then(op).catch((e: unknown) => this.log.error({ err: asError(e) }, 'cannot persist the registry'));
  }
}
