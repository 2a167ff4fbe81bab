import { systemClock, type Clock, type Timer } from '../../shared/clock.js';

/** Handshake, first-bytes and idle deadlines are checked this often; they fire up to one tick late. */
export const DEFAULT_TICK_MS = 250;

interface Entry {
  /** Returns true when the entry is done (fired) and leaves the wheel. */
  check(nowMs: number): boolean;
}

class Deadline implements Entry, Timer {
  constructor(
    readonly owner: CoarseTimer,
    readonly atMs: number,
    readonly fn: () => void,
  ) {}
  check(nowMs: number): boolean {
    if (nowMs < this.atMs) return false;
    this.fn();
    return true;
  }
  cancel(): void {
    this.owner.remove(this);
  }
}

class IdleWatch implements Entry, Timer {
  #last = -1;
  #sinceMs: number;
  constructor(
    readonly owner: CoarseTimer,
    readonly activity: () => number,
    readonly idleMs: number,
    readonly fn: () => void,
    nowMs: number,
  ) {
    this.#sinceMs = nowMs;
  }
  check(nowMs: number): boolean {
    const a = this.activity();
    if (a !== this.#last) {
      this.#last = a;
      this.#sinceMs = nowMs;
      return false;
    }
    if (nowMs - this.#sinceMs < this.idleMs) return false;
    this.fn();
    return true;
  }
  cancel(): void {
    this.owner.remove(this);
  }
}

/**
 * One coarse timer shared by every connection (as undici's lib/util/timers.js): arming or cancelling a
 * deadline is a Set insert/delete, and idle detection polls a byte counter once per tick instead of
 * touching a timer on every chunk.
 */
export class CoarseTimer implements Pick<Clock, 'setTimer'> {
  readonly #clock: Clock;
  readonly #tickMs: number;
  readonly #entries = new Set<Entry>();
  #tick: Timer | undefined;

  constructor(clock: Clock = systemClock, tickMs: number = DEFAULT_TICK_MS) {
    this.#clock = clock;
    this.#tickMs = tickMs;
  }

  /** A deadline `ms` from now (fires within one tick after it). Same shape as Clock.setTimer. */
  setTimer(ms: number, fn: () => void): Timer {
    return this.#add(new Deadline(this, this.#clock.monotonic() + ms, fn));
  }

  /**
   * Calls `fn` once `activity()` (a byte counter, read once per tick) has not moved for `idleMs`.
   * Nothing happens per chunk.
   */
  watchIdle(activity: () => number, idleMs: number, fn: () => void): Timer {
    return this.#add(new IdleWatch(this, activity, idleMs, fn, this.#clock.monotonic()));
  }

  /** Entries still armed, for tests and /config_dump. */
  get size(): number {
    return this.#entries.size;
  }

  remove(e: Entry): void {
    this.#entries.delete(e);
    if (this.#entries.size === 0) this.#stop();
  }

  /** Stops ticking; armed entries never fire. */
  close(): void {
    this.#entries.clear();
    this.#stop();
  }

  #add<T extends Entry>(e: T): T {
    this.#entries.add(e);
    this.#tick ??= this.#clock.setTimer(this.#tickMs, this.#onTick);
    return e;
  }

  #stop(): void {
    this.#tick?.cancel();
    this.#tick = undefined;
  }

  readonly #onTick = (): void => {
    this.#tick = undefined;
    const now = this.#clock.monotonic();
    for (const e of this.#entries) {
      if (e.check(now)) this.#entries.delete(e);
    }
    if (this.#entries.size > 0) this.#tick ??= this.#clock.setTimer(this.#tickMs, this.#onTick);
  };
}
