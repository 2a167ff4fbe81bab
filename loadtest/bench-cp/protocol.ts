// IPC messages between bench-control-plane.ts and its worker processes (bench-cp/worker.ts).

export interface BenchIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** A bootstrap token bound to this identity; tokens are multi-use until they expire. */
  readonly token: string;
}

export interface WorkerInit {
  readonly target: string;
  readonly rootsPem: string;
  readonly trustDomain: string;
  /** Simulated proxy `firstIndex + k` uses identities[(firstIndex + k) % identities.length]. */
  readonly identities: readonly BenchIdentity[];
  readonly firstIndex: number;
  readonly count: number;
  /** `h2`: bare gRPC on node:http2 (light); `grpc-js`: a grpc-js client (channel) per stream, as the proxy does. */
  readonly client: 'h2' | 'grpc-js';
}

export type ParentMessage = { type: 'init'; init: WorkerInit } | { type: 'go' } | { type: 'report' } | { type: 'stop' };

export interface PushRecord {
  readonly version: string;
  readonly revision: number;
  readonly at: number;
}

export interface ProxyRecord {
  readonly index: number;
  readonly certifiedAt: number;
  readonly syncedAt: number;
  readonly pushes: readonly PushRecord[];
}

export type WorkerMessage =
  | { type: 'ready'; keygenMs: number; rssBytes: number }
  | { type: 'certified'; count: number; failed: number; lastAt: number; eventLoopUtilization: number }
  | { type: 'synced'; count: number; failed: number; lastAt: number }
  | { type: 'progress'; certified: number; synced: number }
  | { type: 'failed'; index: number; stage: string; error: string }
  | { type: 'pushes'; rssBytes: number; cpuSeconds: number; items: readonly ProxyRecord[] };
