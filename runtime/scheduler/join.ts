/**
 * Joining: a task waits until another one is done.
 *
 * @internal
 */
import { Instruction } from "./instruction.js";
import { resume } from "./resume.js";
import type { Task } from "./task.js";

/** Waits for another task to be done. */
export class JoinInstr extends Instruction {
  constructor(readonly target: Task) {
    super();
  }
  get name(): string {
    return `join(${this.target})`;
  }
  enter(task: Task): void {
    (this.target._joiners ??= []).push(task);
  }
  override exit(task: Task): void {
    const joiners = this.target._joiners;
    const i = joiners === null ? -1 : joiners.indexOf(task);
    if (i >= 0) joiners!.splice(i, 1);
  }
}

/** Wake every task joining `task`; called once when it is done. Returns whether there was one. */
export function wakeJoiners(task: Task): boolean {
  const joiners = task._joiners;
  task._joiners = null;
  if (joiners === null || joiners.length === 0) return false;
  for (const joiner of joiners) resume(joiner, joiner._waitingOn!, undefined);
  return true;
}
