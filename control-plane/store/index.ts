export type { Store, StoreEntry } from './store.js';
export { FileStore } from './file-store.js';
export { StoreCorruptError, StoreKeyError } from './errors.js';
