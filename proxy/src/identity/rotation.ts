import type { Clock, Timer } from '../../../shared/clock.js';

export const ROTATE_AT_FRACTION = 0.8;
/** ±2% of the lifetime, so that a fleet issued at the same moment does not renew at the same moment. */
export const ROTATION_JITTER_FRACTION = 0.02;

export const rotateAtMs = (notBeforeMs: number, notAfterMs: number, jitter: number): number =>
  notBeforeMs + (ROTATE_AT_FRACTION + jitter) * (notAfterMs - notBeforeMs);

/** Fires `renew` once at 80% (± jitter) of the current certificate's lifetime. */
export class RotationScheduler {
  #timer: Timer | undefined;
  #dueAtMs: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly random: () => number,
    private readonly renew: () => void,
  ) {}

  schedule(notBeforeMs: number, notAfterMs: number): number {
    this.#timer?.cancel();
    const jitter = (this.random() * 2 - 1) * ROTATION_JITTER_FRACTION;
    const at = rotateAtMs(notBeforeMs, notAfterMs, jitter);
    this.#dueAtMs = at;
    this.#timer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.#timer = undefined;
      this.renew();
    });
    return at;
  }

  get dueAtMs(): number | undefined {
    return this.#dueAtMs;
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
