/**
 * Calls and messages between two services of one process. They go through neither a socket nor
 * the registry, and keep the semantics of remote ones: arguments, results and messages are
 * encoded and decoded as the wire does (a receiver never shares an object with the sender, and
 * what cannot cross the wire cannot cross here: `bad_value`, `too_large`), the call takes the
 * callee's handler road (dispatch.ts: its queue, limits and `shutting_down`), deadlines hold, and
 * a full mailbox makes the sender wait as a paused connection would.
 * @internal
 */
import type { Context } from "@opentelemetry/api";
import { LuanetError, RPCError } from "../errors.js";
import { Instruction, type Operation } from "../scheduler/instruction.js";
import { current } from "../scheduler/drive.js";
import { resume } from "../scheduler/resume.js";
import { outsideTask } from "../scheduler/suspension.js";
import type { Task } from "../scheduler/task.js";
import { setTimer } from "../scheduler/timers.js";
import { copyPayload, payloadCostOf } from "../wire/envelope.js";
import type { LocalOrigin } from "./dispatch.js";
import { roomIn } from "./mailbox.js";
import type { Service } from "./service.js";
import type { RPCResult } from "./sessions.js";

/** The largest frame that could carry a payload from `a` to `b`: each refuses a larger one. */
const maxFrame = (a: Service, b: Service): number => Math.min(a.config.maxFrameBytes, b.config.maxFrameBytes);

/** `value` as a receiver would decode it (wire/envelope.ts copyPayload), or the RPCError a
 * sender would get. */
function copied(value: unknown, maxFrame: number, what: string): { value: unknown } | RPCError {
  try {
    return { value: copyPayload(value, maxFrame, what) };
  } catch (error) {
    return error instanceof LuanetError ? new RPCError(error.code, error.message) : new RPCError("bad_value", String(error));
  }
}

/** One call from `from` to `to`, both services of this process: the operation the task
 * `yield*`s and the instruction it waits on. */
class LocalCall extends Instruction implements Operation<RPCResult>, Iterator<Instruction, RPCResult, unknown>, LocalOrigin {
  private sent = false;
  private task: Task | null = null;
  gone = false;
  readonly from: string | null;
  constructor(private readonly caller: Service, private readonly callee: Service, private readonly func: string, private readonly args: unknown, private readonly ms: number) {
    super();
    this.from = caller.named;
  }
  get name(): string {
    return `RPCCall ${this.callee.name}.${this.func}`;
  }
  [Symbol.iterator](): this {
    return this;
  }
  next(value?: unknown): IteratorResult<Instruction, RPCResult> {
    if (this.sent) return { value: value as RPCResult, done: true };
    if (current === null) throw outsideTask("luanet.RPCCall");
    this.sent = true;
    return { value: this, done: false };
  }
  return(value?: unknown): IteratorResult<Instruction, RPCResult> {
    return { value: value as RPCResult, done: true };
  }
  enter(task: Task): void {
    this.task = task;
    this.callee.runtime.inFlight.counter(this.callee.name).n++;
    this.caller.counters.peer(this.callee.name).callsOut++;
    this.callee.counters.peer(this.from).callsIn++;
    const args = copied(this.args, maxFrame(this.caller, this.callee), `the call to ${this.callee.name}.${this.func}`);
    if (args instanceof RPCError) return void resume(task, this, [null, args]);
    // The calling task's trace context (its client span, api.ts) is the parent of the handler's.
    this.callee.dispatcher.call(this, 0, this.func, args.value, Math.ceil(this.ms), payloadCostOf(), task._trace as Context | null);
    if (this.task !== null) setTimer(task, this.ms); // not answered at once: a handler task runs it
  }
  ok(func: string, result: unknown): void {
    if (this.task === null) return;
    const reply = copied(result, maxFrame(this.callee, this.caller), `the result of ${func}`);
    if (reply instanceof RPCError) return this.error(reply.code, reply.message, null);
    resume(this.task, this, [reply.value, null]);
  }
  error(code: string, message: string, stack: string | null): void {
    if (this.task !== null) resume(this.task, this, [null, new RPCError(code, message, stack)]);
  }
  override timeout(task: Task): void {
    resume(task, this, [null, new RPCError("timeout", `${this.callee.name}.${this.func} did not answer within ${this.ms} ms`)]);
  }
  override exit(): void {
    this.task = null;
    this.gone = true;
    this.callee.runtime.inFlight.counter(this.callee.name).n--;
  }
}

export function localCall(caller: Service, callee: Service, func: string, args: unknown, ms: number): Operation<RPCResult> {
  return new LocalCall(caller, callee, func, args, ms);
}

/** A message from `sender` to `receiver`, both of this process. */
export function* localSend(sender: Service, receiver: Service, msg: unknown): Generator<Instruction, RPCError | null, unknown> {
  const message = copied(msg, maxFrame(sender, receiver), `the message to ${receiver.name}`);
  if (message instanceof RPCError) return message;
  const cost = payloadCostOf();
  const ms = sender.config.rpcTimeout;
  if (receiver.mailbox.mustWait && !(yield* roomIn(receiver.mailbox, ms))) {
    return new RPCError("timeout", `${receiver.name}'s mailbox stayed full for ${ms} ms (it takes messages slower than they are sent); the message was not sent`);
  }
  if (receiver.stopping) return new RPCError("disconnected", `${receiver.name} stopped while the message waited to be delivered`);
  receiver.mailbox.deliver(sender.named, message.value, cost, null);
  sender.counters.peer(receiver.name).msgsOut++;
  receiver.counters.peer(sender.named).msgsIn++;
  return null;
}
