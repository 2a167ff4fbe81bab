import type { Socket } from 'node:net';
import { finished } from 'node:stream';
import type { Timer } from '../../shared/clock.js';
import type { CoarseTimer } from './coarse-timer.js';

/** What a finished connection did; produced once, when both legs have closed. */
export interface SpliceResult {
  /** Bytes read from the downstream leg (what the client sent), as that socket counts them. */
  readonly downBytes: number;
  /** Bytes read from the upstream leg (what the server sent). */
  readonly upBytes: number;
  /** The first error either leg saw; undefined for a clean close. */
  readonly error: Error | undefined;
  /** Closed by the idle timeout. */
  readonly idleTimedOut: boolean;
}

export interface LinkOptions {
  /** Called once when both legs have closed. */
  readonly done?: (result: SpliceResult) => void;
  /** Close both legs after `ms` without a byte in either direction (checked on the shared coarse timer). */
  readonly idle?: { readonly timer: CoarseTimer; readonly ms: number };
}

const kLink = Symbol('link');
const kPeer = Symbol('peer');
type Leg = Socket & { [kLink]: Link; [kPeer]: Socket };

class Link {
  closed = 0;
  error: Error | undefined;
  idleTimedOut = false;
  idleWatch: Timer | undefined;
  constructor(
    readonly down: Socket,
    readonly up: Socket,
    readonly done: ((result: SpliceResult) => void) | undefined,
  ) {}
  activity = (): number => this.down.bytesRead + this.up.bytesRead;
  onIdle = (): void => {
    this.idleWatch = undefined;
    this.idleTimedOut = true;
    this.down.destroy();
    this.up.destroy();
  };
}

function onLegError(this: Leg, err: Error): void {
  this[kLink].error ??= err;
  this[kPeer].destroy();
}

function onLegClose(this: Leg): void {
  const link = this[kLink];
  // A leg that closed before both of its directions finished cleanly leaves nothing for the peer to wait for.
  if (!(this.readableEnded && this.writableFinished)) this[kPeer].destroy();
  if (++link.closed < 2) return;
  link.idleWatch?.cancel();
  link.done?.({ downBytes: link.down.bytesRead, upBytes: link.up.bytesRead, error: link.error, idleTimedOut: link.idleTimedOut });
}

/**
 * Ties the lifetimes of two connected sockets: an error on one destroys the other, an unclean close of one
 * destroys the other, and `done` runs once with the byte counts when both are gone. Moves no data itself
 * (see splice); callers that filter one direction (HTTP) link the legs and pipe the other direction.
 * Both sockets need allowHalfOpen so that a FIN travels as end() while the other direction carries on.
 */
export function linkLegs(down: Socket, up: Socket, opts: LinkOptions = {}): void {
  const link = new Link(down, up, opts.done);
  const d = down as Leg;
  const u = up as Leg;
  d[kLink] = link;
  u[kLink] = link;
  d[kPeer] = up;
  u[kPeer] = down;
  d.on('error', onLegError).on('close', onLegClose);
  u.on('error', onLegError).on('close', onLegClose);
  if (opts.idle) link.idleWatch = opts.idle.timer.watchIdle(link.activity, opts.idle.ms, link.onIdle);
  // A leg that died before we got here may already have fired 'close'; finished() reports it either way, once.
  for (const leg of [d, u]) {
    if (!leg.destroyed) continue;
    leg[kPeer].destroy();
    leg.removeListener('close', onLegClose);
    finished(leg, () => onLegClose.call(leg));
  }
}

/**
 * A bidirectional byte pipe: back-pressure by pipe(), half-close by pipe's end() on 'end', no per-chunk
 * listener or closure of ours, bytes counted once at close.
 */
export function splice(down: Socket, up: Socket, opts: LinkOptions = {}): void {
  linkLegs(down, up, opts);
  down.pipe(up);
  up.pipe(down);
}
