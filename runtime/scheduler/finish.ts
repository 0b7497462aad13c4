/**
 * A task is done: it returned, threw or was halted.
 *
 * @internal
 */
import { reportFailure } from "./failure.js";
import { removeLive, wakeIdleWaiters } from "./live.js";
import { wakeJoiners } from "./join.js";
import { FAILED } from "./states.js";
import type { Task } from "./task.js";

/** Record the outcome (OK, FAILED or HALTED) and what goes with it, drop the task's generator and
 * function, wake its joiners; a failure nobody joins goes to the failure reporter. */
export function finish(task: Task, outcome: number, result: unknown): void {
  task._status = outcome;
  task._value = result;
  task._body = null;
  removeLive(task);
  const joined = wakeJoiners(task);
  if (outcome === FAILED && !joined) reportFailure(task, result);
  wakeIdleWaiters();
}
