/**
 * A task: one cooperative thread of control, driven by the loop (queue.ts, drive.ts).
 *
 * The fields marked internal are the loop's. A blocked task is this object plus its generator:
 * the fields a switch touches come first and rarely used state is kept elsewhere, so an idle task
 * stays small and a switch touches few cache lines. (Memory is not what bounds a switch between
 * 10,000 tasks, though: see the note on genNext in drive.ts.)
 */
import { TaskHaltedError } from "../errors.js";
import { currentContext } from "./context.js";
import { current } from "./drive.js";
import { halt } from "./halt.js";
import type { Instruction, Operation } from "./instruction.js";
import { JoinInstr } from "./join.js";
import { DONE, FAILED, HALT_NONE, NEXT, OK, READY } from "./states.js";
import { noteSpawn } from "./spawn-stacks.js";
import { suspend } from "./suspension.js";
import type { TimerNode } from "./timers.js";

export type TaskStatus = "ready" | "running" | "suspended" | "done";
const statusNames: readonly TaskStatus[] = ["ready", "running", "suspended", "done"];

let lastId = 0;

export class Task<T = unknown> implements Operation<T> {
  /** @internal */ _status = READY;
  /** @internal The spawned function until the first step, then the generator it is driven
   * through (drive.ts); null once it is done. */
  _body: ((...args: unknown[]) => unknown) | Generator<Instruction, unknown, unknown> | null;
  /** @internal */ _waitingOn: Instruction | null = null;
  /** @internal */ _resumeMode = NEXT;
  /** @internal One field for what the task holds at each stage, so a task stays small: before its
   * first step, the arguments its function is called with; while it is ready, the value (or error)
   * its generator is resumed with; once it is done, its result (or the error it threw). */
  _value: unknown;
  /** @internal */ _timer: TimerNode | null = null;
  /** @internal */ _suspension: object | null = null;
  /** @internal */ _halting = HALT_NONE;
  /** @internal */ _joiners: Task[] | null = null;
  /** @internal */ _liveIndex = -1;
  /** @internal The trace context its RPC calls are made in (service/tracing.ts: an OpenTelemetry
   * Context, or null when it is not traced), inherited from the task that spawned it. The
   * scheduler only carries it: OpenTelemetry's own context (AsyncLocalStorage) does not follow
   * generators driven from a run queue. */
  _trace: unknown;
  /** @internal performance.now(), coarsely (clock.ts), when it last suspended. */
  _since = 0;
  /** A number unique in this process, in spawn order. */
  readonly id: number;
  /** @internal The name it was given, or the spawned function, whose name is read only when the
   * task's name is asked for (reading a function's name costs a getter call per spawn). */
  private readonly _label: string | ((...args: unknown[]) => unknown);
  /** @internal What the task runs as (to the service layer: its service); inherited from the
   * code that spawned it unless given. The scheduler only carries it. */
  readonly context: unknown;

  /** @internal Use `Sche.Spawn`. */
  constructor(fn: (...args: unknown[]) => unknown, args: unknown[], name?: string, context: unknown = currentContext()) {
    this.id = ++lastId;
    this._label = name ?? fn;
    this.context = context;
    this._body = fn;
    this._value = args;
    this._trace = current === null ? null : current._trace;
    noteSpawn(this);
  }

  /** The spawned function's name, or "task"; or the name it was spawned with. */
  get name(): string {
    const label = this._label;
    return typeof label === "string" ? label : label.name || "task";
  }

  /** "ready", "running", "suspended" (blocked, sleeping, waiting on a call) or "done". */
  get status(): TaskStatus {
    return statusNames[Math.min(this._status, DONE)]!;
  }

  /** What a suspended task waits for, e.g. "sleep(100)"; null when it is not suspended. */
  get waitingOn(): string | null {
    return this._waitingOn?.name ?? null;
  }

  /** How long (ms) it has been suspended, to within a few ms; 0 when it is not suspended. */
  get waitingFor(): number {
    return this._waitingOn === null ? 0 : Math.max(0, performance.now() - this._since);
  }

  /** True once the task has returned, thrown or been halted. */
  get done(): boolean {
    return this._status >= DONE;
  }

  /**
   * Stop the task: it is resumed as if its current `yield*` returned, so its `finally` blocks run
   * (and may themselves block). Calling `halt()` starts this at once; `yield* task.halt()` also
   * waits until the task is done. Halting a finished task does nothing.
   *
   * @example
   * const worker = Sche.Spawn(function* () { try { yield* Sche.Sleep(60_000) } finally { console.log("cleaned up") } })
   * yield* worker.halt()   // prints "cleaned up"
   */
  halt(): Operation<void> {
    halt(this);
    const task = this;
    return {
      *[Symbol.iterator]() {
        if (task._status < DONE) yield* suspend<void>(new JoinInstr(task), "task.halt()");
      },
    };
  }

  /**
   * Join: `const result = yield* task` waits until the task is done, returns what it returned and
   * rethrows what it threw (a `TaskHaltedError`, code "halted", if it was halted).
   */
  *[Symbol.iterator](): Iterator<Instruction, T, unknown> {
    if (this._status < DONE) {
      if (current === this) throw new TypeError(`${this} cannot join itself: it would wait forever`);
      yield* suspend<void>(new JoinInstr(this), "yield* task");
    }
    if (this._status === OK) return this._value as T;
    throw this._status === FAILED ? this._value : new TaskHaltedError(this);
  }

  toString(): string {
    return `task #${this.id} (${this.name})`;
  }
}
