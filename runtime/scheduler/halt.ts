/**
 * Halting: a task is asked to stop, and unwinds through its `finally` blocks.
 *
 * @internal
 */
import { finish } from "./finish.js";
import { continueWith, leave } from "./resume.js";
import { DONE, HALT_NONE, HALT_REQUESTED, HALTED, READY, RETURN, SUSPENDED } from "./states.js";
import type { Task } from "./task.js";

/** Ask a task to stop; see `Task.halt`. */
export function halt(task: Task): void {
  if (task._status >= DONE || task._halting !== HALT_NONE) return;
  task._halting = HALT_REQUESTED;
  if (task._status === READY) {
    if (typeof task._body === "function") finish(task, HALTED, undefined); // never started: nothing to unwind
    else task._resumeMode = RETURN;
  } else if (task._status === SUSPENDED) {
    leave(task);
    continueWith(task, RETURN, undefined);
  } // RUNNING: step() delivers the return at the task's next yield
}
