import { systemClock, type Clock } from '../../shared/clock.js';

/** The real clock, shifted by a settable offset: "two hours later" without waiting two hours. */
export class OffsetClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  monotonic(): number {
    return performance.now() + this.offsetMs;
  }
  setTimer(ms: number, fn: () => void) {
    return systemClock.setTimer(ms, fn);
  }
}
