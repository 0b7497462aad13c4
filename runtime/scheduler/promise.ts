/**
 * Bridging promises into tasks: a task waits for a promise as for any other instruction, and a
 * function's result (a generator, a promise or a plain value) becomes one operation.
 *
 * @internal
 */
import { Instruction } from "./instruction.js";
import { fail, resume } from "./resume.js";
import { suspend } from "./suspension.js";
import type { Task } from "./task.js";

class AwaitInstr extends Instruction {
  readonly name = "await(promise)";
  constructor(readonly promise: PromiseLike<unknown>) {
    super();
  }
  enter(task: Task): void {
    this.promise.then((value) => resume(task, this, value), (error) => fail(task, this, error));
  }
}

/** Wait for a promise: its value is returned, its rejection thrown. */
export function* awaitPromise<T>(promise: PromiseLike<T>): Generator<Instruction, T, unknown> {
  return yield* suspend<T>(new AwaitInstr(promise), "Sche.Await");
}

/** What a function returned, as an operation: a generator is driven, a promise awaited, any
 * other value returned. (A task's own first step does the same without the extra layer.) */
export function* settleValue(out: unknown): Generator<Instruction, unknown, unknown> {
  if (isIterator(out)) return yield* { [Symbol.iterator]: () => out };
  if (isThenable(out)) return yield* awaitPromise(out);
  return out;
}

/** Has next, throw and return, as a task's body must (a generator, or one written by hand). */
export function isIterator(x: unknown): x is Iterator<Instruction, unknown, unknown> {
  return typeof x === "object" && x !== null && typeof (x as Iterator<unknown>).next === "function" &&
    typeof (x as Iterator<unknown>).throw === "function" && typeof (x as Iterator<unknown>).return === "function";
}

/** A promise, or anything else with a `then` method. */
export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === "object" && x !== null && typeof (x as PromiseLike<unknown>).then === "function";
}

/**
 * `body`, run in a task that `spawn` starts, as a promise: its result resolves it, its error
 * rejects it, and a halt before it is done (its service stopped) rejects it with `halted()`.
 */
export function inTask<T>(spawn: (name: string, body: () => Generator<Instruction, void, unknown>) => unknown, name: string, body: () => Generator<Instruction, T, unknown>, halted: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    spawn(name, function* () {
      try {
        const value = yield* body();
        settled = true;
        resolve(value);
      } catch (error) {
        settled = true;
        reject(error);
      } finally {
        if (!settled) reject(halted());
      }
    });
  });
}
