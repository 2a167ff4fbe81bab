export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock ms since the epoch: validity windows. */
  now(): number;
  /** Monotonic ms: durations and backoff. */
  monotonic(): number;
  setTimer(ms: number, fn: () => void): Timer;
}

/** Node fires a timeout longer than 2^31-1 ms after 1 ms; CA lifetimes are months, so long waits re-arm. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms: number, fn: () => void): Timer {
    let handle: NodeJS.Timeout;
    let cancelled = false;
    const arm = (left: number): void => {
      const step = Math.min(Math.max(0, left), MAX_TIMER_MS);
      handle = setTimeout(() => {
        if (cancelled) return;
        if (left > MAX_TIMER_MS) arm(left - MAX_TIMER_MS);
        else fn();
      }, step);
      handle.unref();
    };
    arm(ms);
    return {
      cancel() {
        cancelled = true;
        clearTimeout(handle);
      },
    };
  },
};

/** A clock for tests: time moves only when `advance` is called, and due timers fire in order. */
export class FakeClock implements Clock {
  #now: number;
  #mono = 0;
  #timers: { at: number; seq: number; fn: () => void; live: boolean }[] = [];
  #seq = 0;

  constructor(nowMs: number) {
    this.#now = nowMs;
  }
  now(): number {
    return this.#now;
  }
  monotonic(): number {
    return this.#mono;
  }
  setTimer(ms: number, fn: () => void): Timer {
    const t = { at: this.#mono + Math.max(0, ms), seq: this.#seq++, fn, live: true };
    this.#timers.push(t);
    return { cancel: () => void (t.live = false) };
  }
  /** Timers still armed, for assertions. */
  get pending(): number {
    return this.#timers.filter((t) => t.live).length;
  }
  advance(ms: number): void {
    const target = this.#mono + ms;
    for (;;) {
      const due = this.#timers
        .filter((t) => t.live && t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#now += due.at - this.#mono;
      this.#mono = due.at;
      due.live = false;
      due.fn();
    }
    this.#now += target - this.#mono;
    this.#mono = target;
    this.#timers = this.#timers.filter((t) => t.live);
  }
}
