/**
 * The loop's coarse clock: performance.now() as the run queue last read it (at the start of each
 * drain, and every 64 steps of it), so a task can be stamped with when it suspended (for task
 * dumps) without a clock read per switch. Behind by at most one drain slice (queue.ts).
 * @internal
 */
export const loopClock = { now: 0 };
