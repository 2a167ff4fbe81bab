/**
 * At most `perWindow` lines per key per window, so that a flood of identical failures (a misconfigured
 * client retrying in a loop) cannot fill the disk; the first line of the next window says how many were
 * dropped.
 */
export class LogRateLimit {
  readonly #windows = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(
    private readonly perWindow = 10,
    private readonly windowMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** undefined: drop this line; otherwise log it, mentioning the returned number of dropped lines if > 0. */
  take(key: string): number | undefined {
    const t = this.now();
    let w = this.#windows.get(key);
    if (!w || t - w.start >= this.windowMs) {
      const suppressed = w?.suppressed ?? 0;
      w = { start: t, count: 0, suppressed: 0 };
      this.#windows.set(key, w);
      w.count = 1;
      return suppressed;
    }
    if (w.count >= this.perWindow) {
      w.suppressed++;
      return undefined;
    }
    w.count++;
    return 0;
  }
}
