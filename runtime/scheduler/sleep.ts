/**
 * Sleep and Yield: give up the processor for a time, or until everyone else ready has run.
 */
import { Instruction, type Operation } from "./instruction.js";
import { resume } from "./resume.js";
import { suspend, Suspension } from "./suspension.js";
import type { Task } from "./task.js";
import { setTimer } from "./timers.js";
import { checkMs } from "./validate.js";

class SleepInstr extends Instruction {
  constructor(readonly ms: number) {
    super();
  }
  get name(): string {
    return `sleep(${this.ms})`;
  }
  enter(task: Task): void {
    setTimer(task, this.ms);
  }
}

class YieldInstr extends Instruction {
  readonly name = "yield";
  enter(task: Task): void {
    resume(task, this, undefined);
  }
}
const YIELD = new Suspension<void>(new YieldInstr(), "Sche.Yield");

/**
 * Suspend the current task for `ms` milliseconds (0 is the same as `Yield()`).
 * @example yield* Sche.Sleep(100)
 */
export function Sleep(ms: number): Operation<void> {
  checkMs(ms, "Sche.Sleep(ms)");
  return ms === 0 ? YIELD : suspend<void>(new SleepInstr(ms), "Sche.Sleep");
}

/**
 * Let every other ready task run, then continue. A task looping on Yield starves nobody.
 * @example while (busy) { work(); yield* Sche.Yield() }
 */
export function Yield(): Operation<void> {
  return YIELD;
}
