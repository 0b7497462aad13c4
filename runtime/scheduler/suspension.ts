/**
 * Suspension: the iterator behind every blocking operation.
 *
 * @internal
 */
import { current } from "./drive.js";
import type { Instruction, Operation } from "./instruction.js";

/**
 * The iterator behind every blocking operation: checks that it runs inside a task, yields one
 * instruction and returns what the task is resumed with. Its one bit of state (has it yielded?)
 * lives on the task, so a Suspension is immutable and reusable: `Sche.Block()` and `Sche.Yield()`
 * return shared ones and allocate nothing that outlives a switch.
 */
export class Suspension<T> implements Operation<T>, Iterator<Instruction, T, unknown> {
  private readonly yielded: IteratorResult<Instruction, T>;
  constructor(instr: Instruction, private readonly what: string) {
    this.yielded = { value: instr, done: false };
  }
  [Symbol.iterator](): this {
    return this;
  }
  next(value?: unknown): IteratorResult<Instruction, T> {
    const task = current;
    if (task === null) throw outsideTask(this.what);
    if (task._suspension === this) {
      task._suspension = null;
      return { value: value as T, done: true };
    }
    task._suspension = this;
    return this.yielded;
  }
  return(value?: unknown): IteratorResult<Instruction, T> {
    if (current !== null) current._suspension = null;
    return { value: value as T, done: true };
  }
  throw(error?: unknown): IteratorResult<Instruction, T> {
    if (current !== null) current._suspension = null;
    throw error;
  }
}

/** A one-off blocking operation on `instr`; `what` names the API in the outside-a-task error. */
export function suspend<T>(instr: Instruction, what: string): Operation<T> {
  return new Suspension<T>(instr, what);
}

/** The error for a blocking API (`what`) called outside any task. */
export function outsideTask(what: string): TypeError {
  return new TypeError(
    `${what} blocks, so it must be called with yield* inside a luanet task (the script's root task, ` +
    `its default export, or a function given to Sche.Spawn); it was called outside any task`);
}
