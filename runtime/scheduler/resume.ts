/**
 * Leaving a suspension: a task waiting on an instruction is resumed with a value, failed with an
 * error, or timed out, and queued to run on.
 *
 * @internal
 */
import type { Instruction } from "./instruction.js";
import { enqueue } from "./queue.js";
import { NEXT, THROW } from "./states.js";
import type { Task } from "./task.js";
import { clearTimer } from "./timers.js";

/** Queue the task to continue with `value`, delivered as `mode` (NEXT, THROW or RETURN). */
export function continueWith(task: Task, mode: number, value: unknown): void {
  task._resumeMode = mode;
  task._value = value;
  enqueue(task);
}

/** Take the task out of its suspension: clear its timer and let the instruction forget it. */
export function leave(task: Task): void {
  const instr = task._waitingOn!;
  task._waitingOn = null;
  if (task._timer !== null) clearTimer(task);
  instr.exit?.(task);
}

/**
 * Resume a task suspended on `instr` with a value (or an error to throw at its `yield*`).
 * Returns false, and does nothing, if the task is no longer waiting on that instruction: a late
 * reply, a second wake-up or a timer that lost the race are all ignored here.
 */
export function resume(task: Task, instr: Instruction, value: unknown, mode: number = NEXT): boolean {
  if (task._waitingOn !== instr) return false;
  leave(task);
  continueWith(task, mode, value);
  return true;
}

/** Resume with an error thrown at the task's `yield*`. */
export function fail(task: Task, instr: Instruction, error: unknown): boolean {
  return resume(task, instr, error, THROW);
}

/** The task's timer (see timers.ts) ran out: its instruction's `timeout` decides, and without
 * one the task is resumed with undefined. */
export function expire(task: Task): void {
  const instr = task._waitingOn;
  if (instr === null) return;
  if (instr.timeout !== undefined) instr.timeout(task);
  else resume(task, instr, undefined);
}
