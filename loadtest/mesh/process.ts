import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Compiled entry points of the three binaries, relative to this file in dist/loadtest/mesh/. */
export const BIN = {
  controlPlane: fileURLToPath(new URL('../../control-plane/main.js', import.meta.url)),
  proxy: fileURLToPath(new URL('../../proxy/src/main.js', import.meta.url)),
  meshctl: fileURLToPath(new URL('../../control-plane/cli/meshctl.js', import.meta.url)),
} as const;

/** A JSON line a binary prints on stdout: `{"event":"listening",…}`, `{"event":"rotated",…}`. */
export interface ProcessEvent {
  event: string;
  [k: string]: unknown;
}
export type ListeningEvent = ProcessEvent;

export interface MeshProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the process's `{"event":"listening",…}` line; rejects if it exits first. */
  readonly listening: Promise<ListeningEvent>;
  /** Every JSON line the process printed on stdout, in order. */
  readonly events: ProcessEvent[];
  /** Emits each stdout event under its name ('listening', 'ready', 'rotated', …) and 'exit'. */
  readonly emitter: EventEmitter;
  /** The next event with this name (or the latest one already seen when `seen` is true). */
  next(name: string, timeoutMs?: number): Promise<ProcessEvent>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts one of our binaries as a real process. stderr (pino logs) goes to `logFile`; stdout lines
 * that are JSON are kept as events. A process that dies before listening rejects `listening` with
 * the tail of its log.
 */
export function startProcess(name: string, script: string, args: readonly string[], logFile: string, env: NodeJS.ProcessEnv = {}): MeshProcess {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stderr?.pipe(log);
  const tail: string[] = [];
  child.stderr?.on('data', (b: Buffer) => {
    tail.push(b.toString());
    if (tail.length > 20) tail.shift();
  });
  const events: ProcessEvent[] = [];
  const emitter = new EventEmitter();
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const listening = new Promise<ListeningEvent>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout ?? process.stdin });
    rl.on('line', (line) => {
      let ev: unknown;
      try {
        ev = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof ev === 'object' && ev !== null && 'event' in ev) {
        const pe = ev as ProcessEvent;
        events.push(pe);
        emitter.emit(pe.event, pe);
        if (pe.event === 'listening') resolve(pe);
      }
    });
    void exited.then(([code, sig]) => {
      emitter.emit('exit', code, sig);
      reject(new Error(`${name} exited (${code ?? sig}) before listening:\n${tail.join('').slice(-2000)}`));
    });
  });
  listening.catch(() => undefined);
  return {
    name,
    child,
    logFile,
    listening,
    events,
    emitter,
    next(eventName: string, timeoutMs = 30_000): Promise<ProcessEvent> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${name}: no "${eventName}" event within ${timeoutMs}ms (log: ${logFile})`));
        }, timeoutMs);
        const onEvent = (ev: ProcessEvent): void => {
          cleanup();
          resolve(ev);
        };
        const onExit = (code: number | null): void => {
          cleanup();
          reject(new Error(`${name} exited (${code}) while waiting for "${eventName}" (log: ${logFile})`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          emitter.off(eventName, onEvent);
          emitter.off('exit', onExit);
        };
        emitter.on(eventName, onEvent);
        emitter.once('exit', onExit);
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      const [code] = await exited;
      clearTimeout(kill);
      log.end();
      return code;
    },
  };
}

/** Runs a binary to completion (meshctl), capturing stdout/stderr. */
export async function runProcess(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}
