import { readFile } from 'node:fs/promises';
import { MeshError, UsageError, errnoCode } from '../../shared/errors.js';
import { str, type FlagDefs, type ParsedCli } from '../../shared/cli.js';

export const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:15014';

/** Flags of every meshctl command that talks to the control plane. */
export const CONNECTION_FLAGS: FlagDefs = {
  'control-plane': { type: 'string', value: 'URL', env: 'MESH_CONTROL_PLANE', default: DEFAULT_CONTROL_PLANE, help: 'control plane REST API' },
  'admin-token-file': { type: 'string', value: 'FILE', help: 'file holding the admin token (<data-dir>/admin.token); env MESH_ADMIN_TOKEN holds the token itself' },
};

export class ApiCallError extends MeshError {
  readonly code = 'MESH_ERR_API_CALL';
  constructor(readonly status: number, readonly remoteCode: string | undefined, message: string) {
    super(message);
  }
}

export class ApiUnreachableError extends MeshError {
  readonly code = 'MESH_ERR_API_UNREACHABLE';
}

export interface ApiClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
  text(path: string): Promise<string>;
}

export async function apiClientFrom(values: ParsedCli['values'], env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
  const base = str(values, 'control-plane') ?? DEFAULT_CONTROL_PLANE;
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UsageError(`--control-plane: want a URL such as ${DEFAULT_CONTROL_PLANE}, got ${JSON.stringify(base)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--control-plane: want an http(s) URL, got ${JSON.stringify(base)}`);
  const token = await adminToken(str(values, 'admin-token-file'), env);
  return new HttpApiClient(url, token);
}

async function adminToken(file: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  if (file !== undefined) {
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (e) {
      throw new UsageError(`--admin-token-file: cannot read ${file} (${errnoCode(e) ?? String(e)})`);
    }
  }
  const fromEnv = env.MESH_ADMIN_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  throw new UsageError('no admin credential: pass --admin-token-file <data-dir>/admin.token or set MESH_ADMIN_TOKEN');
}

class HttpApiClient implements ApiClient {
  constructor(private readonly base: URL, private readonly token: string) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#fetch(method, path, body);
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const remote = typeof parsed === 'object' && parsed !== null ? (parsed as { code?: string; message?: string }) : {};
      throw new ApiCallError(res.status, remote.code, remote.message ?? `HTTP ${res.status}`);
    }
    return parsed as T;
  }

  async text(path: string): Promise<string> {
    const res = await this.#fetch('GET', path);
    const text = await res.text();
    if (!res.ok) throw new ApiCallError(res.status, undefined, `HTTP ${res.status}: ${text.slice(0, 200)}`);
    return text;
  }

  async #fetch(method: string, path: string, body?: unknown): Promise<Response> {
    const url = new URL(path, this.base);
    try {
      return await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (e) {
      const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
      throw new ApiUnreachableError(`control plane at ${this.base.origin} is unreachable: ${errnoCode(cause) ?? (cause instanceof Error ? cause.message : String(cause))}`, { cause: e });
    }
  }
}
