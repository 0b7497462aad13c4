/**
 * The scheduler loop, one concept per file. This file only re-exports; it is kept for callers
 * outside the scheduler that import from "scheduler/loop.js" (new code imports from the file
 * that holds the symbol).
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
 * breaking it would put a call through a variable on every step.
 *
 * @internal
 */
export { current, setAmbient } from "./drive.js";
export { launch, enqueue } from "./queue.js";
export { liveTasks, allDone } from "./live.js";
export { resume, fail } from "./resume.js";
export { halt } from "./halt.js";
export { setFailureReporter } from "./failure.js";
export { Suspension, suspend, outsideTask } from "./suspension.js";
export { awaitPromise, settleValue, isIterator, isThenable } from "./promise.js";
export { currentContext, runAs } from "./context.js";
