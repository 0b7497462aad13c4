/** Wait for a promise inside a task, but no longer than a deadline. @internal */
import { Instruction, type Operation } from "./instruction.js";
import { fail, resume } from "./resume.js";
import { suspend } from "./suspension.js";
import type { Task } from "./task.js";
import { setTimer } from "./timers.js";

export const TIMED_OUT: unique symbol = Symbol("timed out");

class AwaitWithin<T> extends Instruction {
  constructor(private readonly promise: Promise<T>, private readonly ms: number, readonly name: string) {
    super();
  }
  enter(task: Task): void {
    setTimer(task, this.ms);
    this.promise.then((value) => resume(task, this, value), (error) => fail(task, this, error));
  }
  override timeout(task: Task): void {
    resume(task, this, TIMED_OUT);
  }
}

/** The promise's value, TIMED_OUT after `ms`, or its rejection thrown. */
export function awaitWithin<T>(promise: Promise<T>, ms: number, name: string): Operation<T | typeof TIMED_OUT> {
  return suspend(new AwaitWithin(promise, ms, name), name);
}
