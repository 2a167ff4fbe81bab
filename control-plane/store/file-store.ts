import { readdir, readFile, unlink, mkdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { writeFileAtomic, fsyncDir } from '../../shared/crash-safe-file.js';
import { errnoCode } from '../../shared/errors.js';
import type { Store, StoreEntry } from './store.js';
import { StoreCorruptError, StoreKeyError } from './errors.js';

const SEGMENT_RE = /^[A-Za-z0-9._:-]+$/;
const SUFFIX = '.json';

interface OnDisk {
  revision: number;
  value: unknown;
}

/**
 * The embedded store for a single replica: one file per key under `<dir>`, each written crash-safely
 * (temp file, fsync, rename, fsync dir). All entries are held in memory; reads never touch the disk.
 */
export class FileStore implements Store {
  readonly #dir: string;
  readonly #entries = new Map<string, StoreEntry>();
  #revision = 0;
  // Writes to one key are serialised so a slow older write cannot land after a newer one.
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string) {
    this.#dir = dir;
  }

  /** Loads every entry; a file that does not parse is reported by name and the open fails. */
  static async open(dir: string): Promise<FileStore> {
    const store = new FileStore(dir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await store.#load(dir);
    return store;
  }

  async #load(dir: string): Promise<void> {
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, ent.name);
      if (ent.isDirectory()) {
        await this.#load(path);
        continue;
      }
      // Leftover temp files of an interrupted write hold nothing that was acknowledged.
      if (ent.name.startsWith('.') && ent.name.endsWith('.tmp')) continue;
      if (!ent.name.endsWith(SUFFIX)) continue;
      const key = relative(this.#dir, path).slice(0, -SUFFIX.length).split(sep).join('/');
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(path, 'utf8'));
      } catch (e) {
        throw new StoreCorruptError(path, e instanceof SyntaxError ? 'not valid JSON' : String(e));
      }
      if (!isOnDisk(parsed)) throw new StoreCorruptError(path, 'missing revision or value');
      this.#entries.set(key, { key, value: parsed.value, revision: parsed.revision });
      this.#revision = Math.max(this.#revision, parsed.revision);
    }
  }

  async get<T>(key: string): Promise<StoreEntry<T> | undefined> {
    checkKey(key);
    return Promise.resolve(this.#entries.get(key) as StoreEntry<T> | undefined);
  }

  list<T>(prefix: string): Promise<StoreEntry<T>[]> {
    const out: StoreEntry<T>[] = [];
    for (const e of this.#entries.values()) if (e.key.startsWith(prefix)) out.push(e as StoreEntry<T>);
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return Promise.resolve(out);
  }

  async put(key: string, value: unknown): Promise<number> {
    checkKey(key);
    return this.#serial(async () => {
      const revision = this.#revision + 1;
      const path = this.#path(key);
      await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
      const body: OnDisk = { revision, value };
      await writeFileAtomic(path, JSON.stringify(body), 0o600);
      this.#revision = revision;
      this.#entries.set(key, { key, value, revision });
      return revision;
    });
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return this.#serial(async () => {
      const path = this.#path(key);
      try {
        await unlink(path);
      } catch (e) {
        if (errnoCode(e) !== 'ENOENT') throw e;
        return this.#entries.delete(key);
      }
      await fsyncDir(join(path, '..'));
      this.#revision += 1;
      return this.#entries.delete(key);
    });
  }

  close(): Promise<void> {
    return this.#queue.then(() => undefined);
  }

  #path(key: string): string {
    return join(this.#dir, ...key.split('/')) + SUFFIX;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function checkKey(key: string): void {
  if (!key.split('/').every((s) => SEGMENT_RE.test(s) && s !== '.' && s !== '..')) throw new StoreKeyError(key);
}

function isOnDisk(v: unknown): v is OnDisk {
  return typeof v === 'object' && v !== null && 'revision' in v && typeof v.revision === 'number' && 'value' in v;
}
