/**
 * A service's incoming one-way messages, waiting for `GetMsg`. Each message goes to exactly one
 * caller, in arrival order; callers waiting together are served first come, first served. The
 * mailbox is bounded in messages and in bytes (what the messages take once decoded,
 * wire/cbor-subset.ts): at `mailboxLength` messages or `mailboxBytes` bytes, the stream
 * connections that bring more are paused (their senders' `SendMsg` then waits), and so are
 * senders in this process, until it is half empty by both counts; on UDP, which cannot be paused,
 * messages past the bound are dropped and counted.
 * @internal
 */
import { Instruction, type Operation } from "../scheduler/instruction.js";
import { resume } from "../scheduler/resume.js";
import { Suspension } from "../scheduler/suspension.js";
import type { Task } from "../scheduler/task.js";
import { setTimer } from "../scheduler/timers.js";
import type { Link } from "../transport/types.js";
import { warnEverySecond } from "../log.js";
import type { Config } from "./config.js";

export interface Message<T = unknown> {
  /** The sending service's name, or null for a process with no service (a CLI tool). */
  readonly from: string | null;
  readonly msg: T;
}

export class Mailbox {
  private readonly messages: Message[] = [];
  /** Each message's decoded cost, in step with `messages`. */
  private readonly costs: number[] = [];
  private head = 0;
  /** Bytes (decoded cost) of the messages waiting. */
  bytes = 0;
  /** Messages delivered to it since it started, and those dropped for want of room (UDP). */
  received = 0;
  dropped = 0;
  private readonly waiting: Task[] = [];
  /** Links paused because the mailbox was full, and senders in this process waiting for room. */
  private readonly paused = new Set<Link>();
  private readonly senders: RoomInstr[] = [];
  private readonly get = new GetMsgInstr(this);
  /** What `GetMsg` returns: one shared operation (a Suspension holds no per-call state). */
  readonly getMsg: Operation<Message>;
  private readonly droppedOne = warnEverySecond((n) => `dropped ${n} UDP message(s): the mailbox was full (${this.config.mailboxLength} messages or ${this.config.mailboxBytes} bytes; luanet.Configure({ mailboxLength, mailboxBytes }))`);

  constructor(private readonly config: Config) {
    this.getMsg = new Suspension<Message>(this.get, "luanet.GetMsg");
  }

  get length(): number {
    return this.messages.length - this.head;
  }

  /** At the bound: a stream sender is paused, a sender in this process waits. */
  get full(): boolean {
    return this.length >= this.config.mailboxLength || this.bytes >= this.config.mailboxBytes;
  }

  /** A sender in this process must wait its turn: the mailbox is full, or others wait already
   * (who came first delivers first, as on a connection). */
  get mustWait(): boolean {
    return this.senders.length > 0 || this.full;
  }

  /** @internal GetMsgInstr */
  enter(task: Task): void {
    if (this.head < this.messages.length) resume(task, this.get, this.take());
    else this.waiting.push(task);
  }
  /** @internal GetMsgInstr */
  leave(task: Task): void {
    const i = this.waiting.indexOf(task);
    if (i >= 0) this.waiting.splice(i, 1);
  }
  /** @internal RoomInstr */
  waitForRoom(wait: RoomInstr): void {
    if (!this.mustWait) resume(wait.task!, wait, true);
    else this.senders.push(wait);
  }
  leaveRoom(wait: RoomInstr): void {
    const i = this.senders.indexOf(wait);
    if (i >= 0) this.senders.splice(i, 1);
  }

  private take(): Message {
    const m = this.messages[this.head]!;
    this.bytes -= this.costs[this.head]!;
    this.messages[this.head++] = undefined as unknown as Message;
    if (this.head === this.messages.length) this.messages.length = this.costs.length = this.head = 0;
    if ((this.paused.size > 0 || this.senders.length > 0) && this.length <= this.config.mailboxLength / 2 && this.bytes <= this.config.mailboxBytes / 2) {
      for (const link of this.paused) link.resume();
      this.paused.clear();
      for (const wait of this.senders.splice(0)) resume(wait.task!, wait, true);
    }
    return m;
  }

  /**
   * A message arrived from `from` (on `link`; null: from a service in this process). `cost`: what
   * its frame takes once decoded (wire/cbor-subset.ts).
   */
  deliver(from: string | null, msg: unknown, cost: number, link: Link | null): void {
    this.received++;
    const message: Message = { from, msg };
    const task = this.waiting.shift();
    if (task !== undefined) return void resume(task, this.get, message);
    const full = this.length >= this.config.mailboxLength || this.bytes + cost > this.config.mailboxBytes;
    if (full && link !== null && !link.reliable) {
      this.dropped++;
      return this.droppedOne();
    }
    this.messages.push(message); // on a stream it is here already: keep it, and stop reading more
    this.costs.push(cost);
    this.bytes += cost;
    if (!full || link === null) return;
    link.pause();
    this.paused.add(link);
  }
}

class GetMsgInstr extends Instruction {
  readonly name = "GetMsg";
  constructor(private readonly box: Mailbox) {
    super();
  }
  enter(task: Task): void {
    this.box.enter(task);
  }
  override exit(task: Task): void {
    this.box.leave(task);
  }
}

/** A sender in this process waits, at most `ms`, for room in a full mailbox: resumed with true
 * once there is, false when the deadline passes. */
export class RoomInstr extends Instruction {
  readonly name = "mailbox full";
  task: Task | null = null;
  constructor(private readonly box: Mailbox, private readonly ms: number) {
    super();
  }
  enter(task: Task): void {
    this.task = task;
    setTimer(task, this.ms);
    this.box.waitForRoom(this);
  }
  override timeout(task: Task): void {
    resume(task, this, false);
  }
  override exit(): void {
    this.task = null;
    this.box.leaveRoom(this);
  }
}

/** Wait, at most `ms`, for room in `box`: true when there is. */
export function roomIn(box: Mailbox, ms: number): Operation<boolean> {
  return new Suspension<boolean>(new RoomInstr(box, ms), "luanet.SendMsg");
}
