/**
 * Calls and messages between two services of one process. They go through neither a socket nor
 * the registry, and keep the semantics of remote ones: arguments, results and messages are
 * encoded and decoded as the wire does (a receiver never shares an object with the sender, and
 * what cannot cross the wire cannot cross here: `bad_value`, `too_large`), the call takes the
 * callee's handler road (dispatch.ts: its queue, limits and `shutting_down`), deadlines hold, and
 * a full mailbox makes the sender wait as a paused connection would.
 * @internal
 */
import { RPCError } from "../errors.js";
import { Instruction, type Operation } from "../scheduler/instruction.js";
import { current, outsideTask, resume } from "../scheduler/loop.js";
import type { Task } from "../scheduler/task.js";
import { setTimer } from "../scheduler/timers.js";
import { decode, decodedCost, encode, Type, type Envelope } from "../wire/envelope.js";
import { frame, type Carrier } from "./call.js";
import type { LocalOrigin } from "./dispatch.js";
import { roomIn } from "./mailbox.js";
import type { Service } from "./service.js";
import type { RPCResult } from "./sessions.js";

/** The id a local call carries: there is no link to tell calls apart on, and none is needed. */
const LOCAL_ID = 1;

/** What `service` may send: frames up to its maxFrameBytes, on a carrier that loses nothing. */
function carrier(service: Service): Carrier {
  return { maxFrame: service.config.maxFrameBytes, reliable: true };
}

/** `body` decoded as a receiver would; an RPCError if the receiver would refuse it. */
function received(body: Uint8Array): Envelope | RPCError {
  try {
    return decode(body);
  } catch (error) {
    return new RPCError("bad_value", (error as Error).message);
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
    return `rpc(${this.callee.name}.${this.func})`;
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
    const body = frame(() => encode([Type.CALL, LOCAL_ID, this.func, this.args, Math.ceil(this.ms)]), `the call to ${this.callee.name}.${this.func}`, carrier(this.caller));
    const call = body instanceof RPCError ? body : received(body);
    if (call instanceof RPCError) return void resume(task, this, [null, call]);
    const [, , func, args, timeoutMs] = call as Extract<Envelope, readonly [typeof Type.CALL, ...unknown[]]>;
    this.callee.dispatcher.call(this, LOCAL_ID, func, args, timeoutMs, decodedCost());
    if (this.task !== null) setTimer(task, this.ms); // not answered at once: a handler task runs it
  }
  ok(func: string, result: unknown): void {
    if (this.task === null) return;
    const body = frame(() => encode([Type.REPLY, LOCAL_ID, result]), `the result of ${func}`, carrier(this.callee));
    const reply = body instanceof RPCError ? body : received(body);
    if (reply instanceof RPCError) return this.error(reply.code, reply.message, null);
    resume(this.task, this, [reply[2], null]);
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
  }
}

export function localCall(caller: Service, callee: Service, func: string, args: unknown, ms: number): Operation<RPCResult> {
  return new LocalCall(caller, callee, func, args, ms);
}

/** A message from `sender` to `receiver`, both of this process. */
export function* localSend(sender: Service, receiver: Service, msg: unknown): Generator<Instruction, RPCError | null, unknown> {
  const body = frame(() => encode([Type.MSG, msg]), `the message to ${receiver.name}`, carrier(sender));
  const message = body instanceof RPCError ? body : received(body);
  if (message instanceof RPCError) return message;
  const cost = decodedCost();
  const ms = sender.config.rpcTimeout;
  if (receiver.mailbox.full && !(yield* roomIn(receiver.mailbox, ms))) {
    return new RPCError("timeout", `${receiver.name}'s mailbox stayed full for ${ms} ms (it takes messages slower than they are sent); the message was not sent`);
  }
  if (receiver.stopping) return new RPCError("disconnected", `${receiver.name} stopped while the message waited to be delivered`);
  receiver.mailbox.deliver(sender.named, (message as readonly [number, unknown])[1], cost, null);
  return null;
}
