export const INITIAL_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 60_000;
export const BACKOFF_MULTIPLIER = 2;
const JITTER = 0.2;

/**
 * Capped exponential backoff with ±20% jitter. The caller owns the timer (and so the clock);
 * this only says how long the next wait is.
 */
export class Backoff {
  #next: number;

  constructor(
    private readonly random: () => number,
    private readonly initialMs = INITIAL_BACKOFF_MS,
    private readonly maxMs = MAX_BACKOFF_MS,
  ) {
    this.#next = initialMs;
  }

  nextDelayMs(): number {
    const base = this.#next;
    this.#next = Math.min(this.maxMs, this.#next * BACKOFF_MULTIPLIER);
    return Math.round(base * (1 + (this.random() * 2 - 1) * JITTER));
  }

  reset(): void {
    this.#next = this.initialMs;
  }
}
