/** One stored value with the revision of the write that produced it. */
export interface StoreEntry<T = unknown> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
}

/**
 * The control plane's persistent state. Keys are `/`-separated paths (`tokens/<id>`); values are JSON.
 * Every write gets a revision greater than every earlier one; a write that resolved is durable.
 */
export interface Store {
  get<T>(key: string): Promise<StoreEntry<T> | undefined>;
  list<T>(prefix: string): Promise<StoreEntry<T>[]>;
  put(key: string, value: unknown): Promise<number>;
  /** True when the key existed. */
  delete(key: string): Promise<boolean>;
  close(): Promise<void>;
}
