/**
 * Incoming one-way messages, waiting for `GetMsg`. Each message goes to exactly one caller, in
 * arrival order; callers waiting together are served first come, first served.
 * @internal
 */
import { Instruction, type Operation } from "../scheduler/instruction.js";
import { resume, Suspension } from "../scheduler/loop.js";
import type { Task } from "../scheduler/task.js";

export interface Message<T = unknown> {
  /** The sending service's name, or null for a process with no service (a CLI tool). */
  readonly from: string | null;
  readonly msg: T;
}

const messages: Message[] = [];
let head = 0;
const waiting: Task[] = [];

class GetMsgInstr extends Instruction {
  readonly name = "GetMsg";
  enter(task: Task): void {
    if (head < messages.length) resume(task, this, take());
    else waiting.push(task);
  }
  override exit(task: Task): void {
    const i = waiting.indexOf(task);
    if (i >= 0) waiting.splice(i, 1);
  }
}
const GET = new GetMsgInstr();
const GET_OP = new Suspension<Message>(GET, "luanet.GetMsg");

function take(): Message {
  const m = messages[head]!;
  messages[head++] = undefined as unknown as Message;
  if (head === messages.length) messages.length = head = 0;
  return m;
}

export function deliver(from: string | null, msg: unknown): void {
  const message: Message = { from, msg };
  const task = waiting.shift();
  if (task === undefined) messages.push(message);
  else resume(task, GET, message);
}

/** `const { from, msg } = yield* luanet.GetMsg()`: the next message; waits while there is none. */
export function GetMsg<T = unknown>(): Operation<Message<T>> {
  return GET_OP as Operation<Message<T>>;
}
