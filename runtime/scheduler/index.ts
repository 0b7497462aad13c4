/**
 * The scheduler, as the `Sche` global and `luanet/scheduler`. Its loop is one concept per file:
 *
 * - queue.ts: the run queue and its drain (FIFO, never re-entered, a slice then setImmediate)
 * - drive.ts: stepping a task's generator; `current`, the task being stepped
 * - resume.ts: leaving a suspension (resume, fail, timer expiry)
 * - halt.ts, finish.ts, join.ts: asking a task to stop; a task being done; waiting for one
 * - live.ts: the tasks not yet done, and `allDone`
 * - failure.ts: what happens to an error nobody joins
 * - suspension.ts: the iterator behind every blocking operation
 * - promise.ts: promises as operations
 * - context.ts: what the running code runs as
 * - timers.ts: task deadlines without a Node timer per task
 * - states.ts: the integers in a task's internal fields
 *
 * drain -> step -> enqueue -> drain is one recursion, so queue.ts, drive.ts, resume.ts,
 * finish.ts, join.ts, promise.ts, suspension.ts and timers.ts import each other in a cycle. It is
 * safe because none of them uses another's export while the modules load, only when tasks run;
 * breaking it would put a call through a variable on every step. await-within.ts: a promise with
 * a deadline.
 */
import { describe } from "../errors.js";
import type { Operation } from "./instruction.js";
import { awaitPromise } from "./promise.js";
import { Block, WakeUp } from "./block.js";
import { Sleep, Yield } from "./sleep.js";
import { Running, Spawn } from "./spawn.js";

export { Task, type TaskStatus } from "./task.js";
export type { Instruction, Operation } from "./instruction.js";
export { Block, WakeUp, Sleep, Yield, Running, Spawn };

/**
 * Wait for a promise inside a task: its value is returned, its rejection thrown.
 * @example const text = yield* Sche.Await(fs.promises.readFile("a.txt", "utf8"))
 */
export function Await<T>(promise: PromiseLike<T>): Operation<T> {
  if (typeof (promise as PromiseLike<T> | null)?.then !== "function") {
    throw new TypeError(`Sche.Await(promise): promise must be a promise or thenable, got ${describe(promise)}`);
  }
  return awaitPromise(promise);
}

export const Sche = { Spawn, Sleep, Yield, Block, WakeUp, Running, Await } as const;
export type Scheduler = typeof Sche;
