/** Argument checks shared by the scheduler's operations. @internal */
import { describe } from "../errors.js";

/** A duration in milliseconds: a number >= 0 (Infinity allowed where `infinite` says so). */
export function checkMs(ms: unknown, where: string, infinite = false): asserts ms is number {
  if (typeof ms !== "number" || Number.isNaN(ms) || ms < 0 || (!infinite && ms === Infinity)) {
    throw new TypeError(`${where}: ms must be a number of milliseconds >= 0${infinite ? " (or Infinity)" : ""}, got ${describe(ms)}`);
  }
}
