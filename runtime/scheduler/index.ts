/**
 * The scheduler, as the `Sche` global and `luanet/scheduler`.
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
