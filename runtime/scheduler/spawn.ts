/**
 * Spawn and Running: start tasks, and find out which one is running.
 */
import { describe } from "../errors.js";
import type { Instruction } from "./instruction.js";
import { current } from "./drive.js";
import { launch } from "./queue.js";
import { Task } from "./task.js";

/** The arguments of a task spawned with none: shared, never written. */
const NO_ARGS: unknown[] = [];

/**
 * Start a task running `fn(...args)`. It first runs at the next scheduling round, after every
 * task already ready; never inside this call. `fn` is usually a generator function; a plain
 * function runs once and its return value is the task's result, an async one is awaited.
 * @example
 * const t = Sche.Spawn(function* (a: number, b: number) { yield* Sche.Sleep(10); return a + b }, 1, 2)
 * const sum = yield* t   // 3
 */
export function Spawn<A extends unknown[], T>(fn: (...args: A) => Iterator<Instruction, T, unknown>, ...args: A): Task<T>;
export function Spawn<A extends unknown[], T>(fn: (...args: A) => PromiseLike<T>, ...args: A): Task<T>;
export function Spawn<A extends unknown[], T>(fn: (...args: A) => T, ...args: A): Task<T>;
export function Spawn(fn: (...args: unknown[]) => unknown): Task {
  if (typeof fn !== "function") throw new TypeError(`Sche.Spawn(fn, ...args): fn must be a function, got ${describe(fn)}`);
  // The arguments are read from `arguments`, not a rest parameter: a rest parameter allocates an
  // array on every call, and most tasks are spawned with none.
  const n = arguments.length;
  let args = NO_ARGS;
  if (n > 1) {
    args = new Array<unknown>(n - 1);
    for (let i = 1; i < n; i++) args[i - 1] = arguments[i];
  }
  const task = new Task(fn, args);
  launch(task);
  return task;
}

/** Spawn with an explicit name for logs and dumps, and a context other than the spawner's. @internal */
export function spawnNamed(name: string, fn: (...args: unknown[]) => unknown, args: unknown[] = NO_ARGS, context?: unknown): Task {
  const task = new Task(fn, args, name, context);
  launch(task);
  return task;
}

/** The task running now, or null outside any task (in a plain callback, say). */
export function Running(): Task | null {
  return current;
}
