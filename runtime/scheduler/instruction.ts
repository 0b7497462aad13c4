/**
 * The one thing a task ever yields to the scheduler.
 *
 * A blocking operation (`Sche.Sleep`, `luanet.RPCCall`, ...) is a generator that yields exactly one
 * Instruction and returns what the task is resumed with. The instruction says how the task will be
 * woken: `enter` arranges it (a timer, a session table entry, a wait list), and `exit` undoes that
 * arrangement when the task leaves the suspension by any road (resumed, timed out or halted).
 *
 * @internal Users never build instructions; they `yield*` operations.
 */
import type { Task } from "./task.js";

export abstract class Instruction {
  /** What the task waits for, for task dumps and error messages: "sleep(100)". */
  abstract readonly name: string;
  /** The task suspends here. Arrange for `resume(task, this, value)` to be called later. */
  abstract enter(task: Task): void;
  /** The timer set with `setTimer(task, ms)` (timers.ts) ran out. Without this method the task
   * is resumed with `undefined`. */
  timeout?(task: Task): void;
  /** The task left this suspension; drop every reference to it. */
  exit?(task: Task): void;
}

/**
 * A blocking call: `const x = yield* op` gives `x` the type `T`.
 * Every luanet operation, and every Task (joining it), is one.
 */
export interface Operation<T> {
  [Symbol.iterator](): Iterator<Instruction, T, unknown>;
}
