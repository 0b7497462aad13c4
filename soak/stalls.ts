/**
 * Stalls of this process's event loop: times when it could not run for a while, because the CPU
 * was busy elsewhere (an overloaded machine), a long GC, or code that hogged the loop. A timer
 * due during a stall fires late by about the stall's length, so a call that overran its deadline
 * while its process was stalled is not evidence that the runtime missed the deadline.
 *
 * A Node interval ticks every TICK_MS; a tick that comes more than SLACK_MS late records a stall.
 */
const TICK_MS = 10;
const SLACK_MS = 20;
/** Stalls older than this are forgotten: a call lasts at most its deadline plus a little. */
const KEEP_MS = 10_000;

const stalls: { end: number; ms: number }[] = [];
let last = performance.now();
let longest = 0;

setInterval(() => {
  const now = performance.now();
  const late = now - last - TICK_MS;
  last = now;
  if (late > SLACK_MS) {
    stalls.push({ end: now, ms: late });
    longest = Math.max(longest, late);
  }
  while (stalls.length > 0 && stalls[0]!.end < now - KEEP_MS) stalls.shift();
}, TICK_MS).unref();

/** The longest stall that overlapped the interval [from, to] (performance.now() times), in ms. */
export function stalledDuring(from: number, to: number): number {
  let ms = 0;
  for (const s of stalls) if (s.end > from && s.end - s.ms < to) ms = Math.max(ms, s.ms);
  return ms;
}

/** The longest stall since the process started, in ms. */
export function longestStall(): number {
  return longest;
}
