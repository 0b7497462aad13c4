/**
 * How the soak's luanet scripts talk to soak/run.ts: one JSON object per line on stdout (logs go
 * to files and stderr, so stdout carries nothing else). Every line has a `type`:
 *
 *   { type: "ready" }                           the service is registered (or, for a client
 *                                               without one, the load has started)
 *   { type: "stats", rss, heapUsed, ... }       once a second: memory and counters so far
 *   { type: "summary", ... }                    a client's final tally, just before it exits
 */

/** Print one line for the runner. Writes to a pipe are synchronous on Linux, so none is lost. */
export function report(type: string, fields: object = {}): void {
  process.stdout.write(JSON.stringify({ type, ...fields }) + "\n");
}

/**
 * This process's memory in bytes. When node runs with --expose-gc (soak/run.ts passes it), a
 * full garbage collection runs first, so heapUsed is what is really alive, not garbage waiting
 * for the next collection: a leak shows as a rising line instead of a saw tooth.
 */
export function memory(): { rss: number; heapUsed: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}
