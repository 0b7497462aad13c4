/**
 * Incoming one-way messages, waiting for `GetMsg`. Each message goes to exactly one caller, in
 * arrival order; callers waiting together are served first come, first served. The mailbox is
 * bounded in messages and in bytes (what the messages take once decoded, wire/cbor-subset.ts):
 * at `config.mailboxLength` messages or `config.mailboxBytes` bytes, the stream connections that
 * bring more are paused (their senders' `SendMsg` then waits) until it is half empty by both
 * counts; on UDP, which cannot be paused, messages past the bound are dropped and counted.
 * @internal
 */
import { Instruction, type Operation } from "../scheduler/instruction.js";
import { resume, Suspension } from "../scheduler/loop.js";
import type { Task } from "../scheduler/task.js";
import type { Link } from "../transport/types.js";
import { warnEverySecond } from "../log.js";
import { config } from "./config.js";
import type { Conn } from "./conn.js";

export interface Message<T = unknown> {
  /** The sending service's name, or null for a process with no service (a CLI tool). */
  readonly from: string | null;
  readonly msg: T;
}

const messages: Message[] = [];
/** Each message's decoded cost, in step with `messages`. */
const costs: number[] = [];
let head = 0;
let bytes = 0;
const waiting: Task[] = [];
/** Links paused because the mailbox was full. */
const paused = new Set<Link>();
const droppedOne = warnEverySecond((n) => `dropped ${n} UDP message(s): the mailbox was full (${config.mailboxLength} messages or ${config.mailboxBytes} bytes; luanet.Configure({ mailboxLength, mailboxBytes }))`);

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
  bytes -= costs[head]!;
  messages[head++] = undefined as unknown as Message;
  if (head === messages.length) messages.length = costs.length = head = 0;
  if (paused.size > 0 && messages.length - head <= config.mailboxLength / 2 && bytes <= config.mailboxBytes / 2) {
    for (const link of paused) link.resume();
    paused.clear();
  }
  return m;
}

/** `cost`: what the message's frame takes once decoded (wire/cbor-subset.ts). */
export function deliver(conn: Conn, msg: unknown, cost: number): void {
  const message: Message = { from: conn.peerName, msg };
  const task = waiting.shift();
  if (task !== undefined) return void resume(task, GET, message);
  const full = messages.length - head >= config.mailboxLength || bytes + cost > config.mailboxBytes;
  if (full && !conn.link.reliable) return droppedOne();
  messages.push(message); // on a stream it is here already: keep it, and stop reading more
  costs.push(cost);
  bytes += cost;
  if (!full) return;
  conn.link.pause();
  paused.add(conn.link);
}

/** `const { from, msg } = yield* luanet.GetMsg()`: the next message; waits while there is none. */
export function GetMsg<T = unknown>(): Operation<Message<T>> {
  return GET_OP as Operation<Message<T>>;
}
