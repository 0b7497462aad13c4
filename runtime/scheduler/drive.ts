/**
 * Driving a task's generator: one step runs it from where it was resumed to its next `yield*`
 * (or to its end), then lets the instruction it yielded arrange its wake-up.
 *
 * @internal
 */
import { describe } from "../errors.js";
import { loopClock } from "./clock.js";
import { finish } from "./finish.js";
import { Instruction } from "./instruction.js";
import { awaitPromise, isIterator, isThenable } from "./promise.js";
import { continueWith, leave } from "./resume.js";
import {
  FAILED, HALT_DELIVERED, HALT_NONE, HALT_REQUESTED, HALTED, NEXT, OK, READY, RETURN, RUNNING, SUSPENDED, THROW,
} from "./states.js";
import type { Task } from "./task.js";

/** The task being stepped right now, or the ambient task (the root while the script loads). */
export let current: Task | null = null;
let ambient: Task | null = null;

/** Make `task` current for code the loop does not step: the script's module body runs inside the
 * root task this way while it loads. `setAmbient(null)` ends it. */
export function setAmbient(task: Task | null): void {
  ambient = task; // becomes current when the step that called this ends
}

/** Run the task up to its next suspension. Called only by the run queue's drain. */
export function step(task: Task): void {
  if (task._status !== READY) return; // halted before it started
  task._status = RUNNING;
  current = task;
  let r: IteratorResult<Instruction, unknown>;
  try {
    const value = task._value;
    task._value = undefined;
    const body = task._body!;
    if (typeof body === "function") r = genNext.call(start(task, body, value as unknown[]), undefined);
    else switch (task._resumeMode) {
      case NEXT: r = genNext.call(body, value); break;
      case THROW: r = genThrow.call(body, value); break;
      default: task._halting = HALT_DELIVERED; r = genReturn.call(body, undefined);
    }
  } catch (error) {
    current = ambient;
    finish(task, FAILED, error);
    return;
  } finally {
    current = ambient;
  }
  if (r.done === true) {
    finish(task, task._halting === HALT_NONE ? OK : HALTED, r.value);
    return;
  }
  const instr = r.value;
  if (!(instr instanceof Instruction)) {
    continueWith(task, THROW, new TypeError(
      `${task} yielded ${describe(instr)}: a task may only yield* luanet operations, e.g. yield* Sche.Sleep(10)`));
    return;
  }
  if (task._halting === HALT_REQUESTED) {
    continueWith(task, RETURN, undefined); // halted itself while running
    return;
  }
  task._status = SUSPENDED;
  task._waitingOn = instr;
  task._since = loopClock.now;
  try {
    instr.enter(task);
  } catch (error) {
    if (task._waitingOn === instr) {
      leave(task);
      continueWith(task, THROW, error);
    }
  }
}

/**
 * Every task is driven through %GeneratorPrototype%'s own next/throw/return, called directly.
 * `gen.next(v)` would look `next` up on the generator, and each generator *closure* (a
 * `function* () {}` written inside a loop, say) gives its generators their own hidden class: with
 * thousands of tasks that lookup is megamorphic and misses V8's stub cache on almost every step,
 * which cost more than everything else in a switch. An iterator that is not a plain generator is
 * wrapped in one (`delegate`), so a started task's `_body` is always a real generator.
 */
const GeneratorPrototype = Object.getPrototypeOf(function* () {}).prototype as Generator<Instruction, unknown, unknown>;
const { next: genNext, throw: genThrow, return: genReturn } = GeneratorPrototype;
const GeneratorFunctionPrototype = Object.getPrototypeOf(function* () {}) as object;
type Gen = Generator<Instruction, unknown, unknown>;

/** First step: call the task's function. A plain function's result is the task's result, a
 * promise is awaited, a generator is driven. */
function start(task: Task, fn: (...args: unknown[]) => unknown, args: unknown[]): Gen {
  task._body = null; // a throw from fn finishes the task with no body
  const out = args.length === 0 ? fn() : fn(...args);
  return (task._body = isPlainGenerator(out, fn) ? out : isIterator(out) ? delegate(out)
    : isThenable(out) ? awaitPromise(out) : returnValue(out));
}

/**
 * A generator whose next/throw/return are %GeneratorPrototype%'s: its prototype chain is
 * generator -> its function's `prototype` -> %GeneratorPrototype%, and neither of the first two
 * has its own next/throw/return. Checked without looking the methods up, because the first lookup
 * through a new closure's prototype costs about a microsecond (V8 sets that prototype up for fast
 * lookups), doubling the cost of starting a task.
 */
function isPlainGenerator(x: unknown, fn: (...args: unknown[]) => unknown): x is Gen {
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x) as object | null;
  if (proto === null || Object.getPrototypeOf(proto) !== GeneratorPrototype ||
    GeneratorPrototype.next !== genNext || GeneratorPrototype.throw !== genThrow || GeneratorPrototype.return !== genReturn) return false;
  // What a generator function just returned is a new generator, with no own properties yet: only
  // a plain function can hand back one that was given its own next. (Each Object.hasOwn is some
  // 10 ns, a good part of what spawning a task costs.)
  const fresh = Object.getPrototypeOf(fn) === GeneratorFunctionPrototype && proto === fn.prototype;
  return (fresh || !hasOwnMethod(x)) && !hasOwnMethod(proto);
}

function hasOwnMethod(o: object): boolean {
  return Object.hasOwn(o, "next") || Object.hasOwn(o, "throw") || Object.hasOwn(o, "return");
}

/** A generator that forwards next/throw/return to any other iterator. */
function* delegate(it: Iterator<Instruction, unknown, unknown>): Gen {
  return yield* { [Symbol.iterator]: () => it };
}

// eslint-disable-next-line require-yield
function* returnValue(value: unknown): Generator<Instruction, unknown, unknown> {
  return value;
}
