/**
 * The scheduler loop: one run queue, drained in order, never re-entered.
 *
 * Everything that makes a task runnable (spawn, a timer, a reply, a wake-up) calls `enqueue`,
 * which only appends the task and makes sure a drain is coming (a microtask). `drain` steps tasks
 * in FIFO order; a task that yields goes to the back, so nobody starves. After a slice of a few
 * milliseconds the drain stops and continues after Node's I/O poll (setImmediate), so a task
 * looping on `Sche.Yield()` cannot starve the network either.
 *
 * @internal
 */
import { describe } from "../errors.js";
import { logThrown } from "../log.js";
import { Instruction, type Operation } from "./instruction.js";
import {
  DONE, FAILED, HALT_DELIVERED, HALT_NONE, HALT_REQUESTED, HALTED, NEXT, OK, READY, RETURN, RUNNING, SUSPENDED, THROW,
  wakeJoiners, type Task,
} from "./task.js";
import { clearTimer, setExpiryHandler } from "./timers.js";

const SLICE_MS = 5;

/** The task being stepped right now, or the ambient task (the root while the script loads). */
export let current: Task | null = null;
let ambient: Task | null = null;

/** Every task not yet done; each knows its index, so finishing is a swap-remove, never a hash. */
const live: Task[] = [];

const queue: (Task | undefined)[] = [];
let head = 0;
let scheduled = false;
let draining = false;
let idleWaiters: (() => void)[] = [];

/** Count a new task as live and queue its first step. */
export function launch(task: Task): void {
  task._liveIndex = live.push(task) - 1;
  enqueue(task);
}

/** The tasks not yet done. */
export function liveTasks(): Task[] {
  return live.slice();
}

/** Make a task runnable: it runs after every task already queued. */
export function enqueue(task: Task): void {
  task._status = READY;
  queue.push(task);
  if (!scheduled && !draining) {
    scheduled = true;
    queueMicrotask(drain);
  }
}

function drain(): void {
  scheduled = false;
  if (draining) return;
  draining = true;
  const until = performance.now() + SLICE_MS;
  let steps = 0;
  try {
    while (head < queue.length) {
      const task = queue[head]!;
      queue[head++] = undefined;
      step(task);
      if ((++steps & 63) === 0) {
        if (performance.now() >= until) break;
        if (head > 4096 && head * 2 > queue.length) {
          queue.copyWithin(0, head);
          queue.length -= head;
          head = 0;
        }
      }
    }
  } finally {
    draining = false;
    if (head >= queue.length) {
      queue.length = 0;
      head = 0;
    } else if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  }
}

function step(task: Task): void {
  if (task._status !== READY) return; // halted before it started
  task._status = RUNNING;
  current = task;
  let r: IteratorResult<Instruction, unknown>;
  try {
    const gen = task._gen ?? start(task);
    const value = task._resumeValue;
    task._resumeValue = undefined;
    switch (task._resumeMode) {
      case NEXT: r = genNext.call(gen, value); break;
      case THROW: r = genThrow.call(gen, value); break;
      default: task._halting = HALT_DELIVERED; r = genReturn.call(gen, undefined);
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
 * wrapped in one (`delegate`), so `task._gen` is always a real generator.
 */
const GeneratorPrototype = Object.getPrototypeOf(function* () {}).prototype as Generator<Instruction, unknown, unknown>;
const { next: genNext, throw: genThrow, return: genReturn } = GeneratorPrototype;
type Gen = Generator<Instruction, unknown, unknown>;

/** First step: call the task's function. A plain function's result is the task's result, a
 * promise is awaited, a generator is driven. */
function start(task: Task): Gen {
  const fn = task._fn!;
  const args = task._args!;
  task._fn = task._args = null;
  const out = fn(...args);
  return (task._gen = isPlainGenerator(out) ? out : isIterator(out) ? delegate(out)
    : isThenable(out) ? awaitPromise(out) : returnValue(out));
}

/**
 * A generator whose next/throw/return are %GeneratorPrototype%'s: its prototype chain is
 * generator -> its function's `prototype` -> %GeneratorPrototype%, and neither of the first two
 * has its own next/throw/return. Checked without looking the methods up, because the first lookup
 * through a new closure's prototype costs about a microsecond (V8 sets that prototype up for fast
 * lookups), doubling the cost of starting a task.
 */
function isPlainGenerator(x: unknown): x is Gen {
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x) as object | null;
  return proto !== null && Object.getPrototypeOf(proto) === GeneratorPrototype &&
    GeneratorPrototype.next === genNext && GeneratorPrototype.throw === genThrow && GeneratorPrototype.return === genReturn &&
    !hasOwnMethod(x) && !hasOwnMethod(proto);
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

function continueWith(task: Task, mode: number, value: unknown): void {
  task._resumeMode = mode;
  task._resumeValue = value;
  enqueue(task);
}

/** Take the task out of its suspension: clear its timer and let the instruction forget it. */
function leave(task: Task): void {
  const instr = task._waitingOn!;
  task._waitingOn = null;
  if (task._timer !== null) clearTimer(task);
  instr.exit?.(task);
}

/**
 * Resume a task suspended on `instr` with a value (or an error to throw at its `yield*`).
 * Returns false, and does nothing, if the task is no longer waiting on that instruction: a late
 * reply, a second wake-up or a timer that lost the race are all ignored here.
 */
export function resume(task: Task, instr: Instruction, value: unknown, mode: number = NEXT): boolean {
  if (task._waitingOn !== instr) return false;
  leave(task);
  continueWith(task, mode, value);
  return true;
}

/** Resume with an error thrown at the task's `yield*`. */
export function fail(task: Task, instr: Instruction, error: unknown): boolean {
  return resume(task, instr, error, THROW);
}

setExpiryHandler((task) => {
  const instr = task._waitingOn;
  if (instr === null) return;
  if (instr.timeout !== undefined) instr.timeout(task);
  else resume(task, instr, undefined);
});

/** Ask a task to stop; see `Task.halt`. */
export function halt(task: Task): void {
  if (task._status === DONE || task._halting !== HALT_NONE) return;
  task._halting = HALT_REQUESTED;
  if (task._status === READY) {
    if (task._gen === null) finish(task, HALTED, undefined); // never started: nothing to unwind
    else task._resumeMode = RETURN;
  } else if (task._status === SUSPENDED) {
    leave(task);
    continueWith(task, RETURN, undefined);
  } // RUNNING: step() delivers the return at the task's next yield
}

function finish(task: Task, outcome: number, result: unknown): void {
  task._status = DONE;
  task._outcome = outcome;
  task._result = result;
  task._gen = task._fn = task._args = null;
  const last = live.pop()!;
  if (last !== task) {
    live[task._liveIndex] = last;
    last._liveIndex = task._liveIndex;
  }
  task._liveIndex = -1;
  const joined = wakeJoiners(task);
  if (outcome === FAILED && !joined) reportFailure(task, result);
  if (live.length === 0 && idleWaiters.length > 0) {
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }
}

let reportFailure = (task: Task, error: unknown): void => {
  logThrown(`${task} failed`, error); // a hostile value is a logged failure, not a crash
};

/** Replace what happens when an error escapes a task nobody joins; returns the previous handler
 * (the start module uses this for the root task). */
export function setFailureReporter(report: (task: Task, error: unknown) => void): (task: Task, error: unknown) => void {
  const previous = reportFailure;
  reportFailure = report;
  return previous;
}

/** Resolves once every task is done. */
export function allDone(): Promise<void> {
  if (live.length === 0) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}

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

export function outsideTask(what: string): TypeError {
  return new TypeError(
    `${what} blocks, so it must be called with yield* inside a luanet task (the script's root task, ` +
    `its default export, or a function given to Sche.Spawn); it was called outside any task`);
}

const NO_OVERRIDE: unique symbol = Symbol("no override");
let override: unknown = NO_OVERRIDE;

/** What the running code runs as: the running task's context (see Task.context), or what
 * `runAs` set; null outside any task. */
export function currentContext(): unknown {
  return override !== NO_OVERRIDE ? override : current === null ? null : current.context;
}

/** Call `fn` as `context` (a plain RPC handler runs as its service, inside the caller's step). */
export function runAs<T>(context: unknown, fn: () => T): T {
  const previous = override;
  override = context;
  try {
    return fn();
  } finally {
    override = previous;
  }
}

/** Make `task` current for code the loop does not step: the script's module body runs inside the
 * root task this way while it loads. `setAmbient(null)` ends it. */
export function setAmbient(task: Task | null): void {
  ambient = task; // becomes current when the step that called this ends
}

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

export function isIterator(x: unknown): x is Iterator<Instruction, unknown, unknown> {
  return typeof x === "object" && x !== null && typeof (x as Iterator<unknown>).next === "function" &&
    typeof (x as Iterator<unknown>).throw === "function" && typeof (x as Iterator<unknown>).return === "function";
}

export function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === "object" && x !== null && typeof (x as PromiseLike<unknown>).then === "function";
}
