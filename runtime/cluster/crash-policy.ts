/**
 * When a supervised process that exited unexpectedly is started again: after a delay doubling
 * from 0.5 s to 30 s, reset once it has run 60 s; never again once it has crashed 5 times within
 * a minute (it is "left down" until `luanet start`). Times are passed in, so it is plain arithmetic.
 * @internal
 */
export const FIRST_DELAY_MS = 500;
export const MAX_DELAY_MS = 30_000;
/** Up this long, a process is healthy again: its next crash waits the first delay. */
export const HEALTHY_MS = 60_000;
export const CRASH_WINDOW_MS = 60_000;
export const CRASHES_LEFT_DOWN = 5;

export class CrashPolicy {
  private consecutive = 0;
  private crashes: number[] = [];

  /** It crashed at `now` after running `upMs`: the delay before starting it again, or null to leave it down. */
  crashed(now: number, upMs: number): number | null {
    if (upMs >= HEALTHY_MS) this.consecutive = 0;
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    if (this.crashes.length >= CRASHES_LEFT_DOWN) return null;
    return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.consecutive++);
  }

  /** Crashes within the last minute. */
  recent(now: number): number {
    return this.crashes.filter((t) => now - t < CRASH_WINDOW_MS).length;
  }

  /** Started again by hand (`luanet start`): forget its crashes. */
  reset(): void {
    this.consecutive = 0;
    this.crashes = [];
  }
}
