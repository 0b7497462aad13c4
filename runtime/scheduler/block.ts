/**
 * Block and WakeUp: a task parks itself until another one wakes it, or a timeout passes.
 */
import { describe } from "../errors.js";
import { Instruction, type Operation } from "./instruction.js";
import { resume } from "./resume.js";
import { suspend, Suspension } from "./suspension.js";
import { Task } from "./task.js";
import { setTimer } from "./timers.js";
import { checkMs } from "./validate.js";

class BlockInstr extends Instruction {
  constructor(readonly ms: number) {
    super();
  }
  get name(): string {
    return this.ms === Infinity ? "block" : `block(${this.ms})`;
  }
  enter(task: Task): void {
    if (this.ms !== Infinity) setTimer(task, this.ms);
  }
  override timeout(task: Task): void {
    resume(task, this, false);
  }
}
const BLOCK_FOREVER = new BlockInstr(Infinity);
const BLOCK = new Suspension<boolean>(BLOCK_FOREVER, "Sche.Block");

/**
 * Suspend the current task until `Sche.WakeUp(task)`; returns true when woken, false when `ms`
 * milliseconds ran out first. Without `ms` it waits as long as it takes.
 * @example
 * const me = Sche.Running()!
 * Sche.Spawn(function* () { yield* Sche.Sleep(10); Sche.WakeUp(me) })
 * const woken = yield* Sche.Block(1000)   // true
 */
export function Block(ms?: number): Operation<boolean> {
  if (ms === undefined || ms === Infinity) return BLOCK;
  checkMs(ms, "Sche.Block(ms)", true);
  return suspend<boolean>(new BlockInstr(ms), "Sche.Block");
}

/**
 * Wake a task suspended in `Sche.Block`: it continues after every task already ready, and its
 * Block returns true. Returns false, doing nothing, if the task is not blocked (a wake-up is not
 * remembered for a later Block).
 */
export function WakeUp(task: Task): boolean {
  if (!(task instanceof Task)) throw new TypeError(`Sche.WakeUp(task): task must be a Task (from Sche.Spawn or Sche.Running()), got ${describe(task)}`);
  const instr = task._waitingOn;
  return instr instanceof BlockInstr && resume(task, instr, true);
}
