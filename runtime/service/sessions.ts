/**
 * The session table of one service: every RPC call it is waiting on, by id. A session is the
 * instruction its calling task is suspended on, so the reply, the deadline, the peer's
 * disconnection or a halt each settle it exactly once, and whichever comes second finds nothing.
 * On a link that loses frames (UDP) the session resends its CALL, same id, every RESEND_MS
 * until a reply comes or the deadline passes.
 *
 * A reply settles a call only if it arrives on the connection the CALL was sent on (the callee
 * answers there, docs/protocol.md section 6), and ids are random, so no other process, a callee
 * of ours included, can settle or even guess the calls we have pending with other peers.
 * Replies that match no call sent on their connection are dropped (and logged, counted per second).
 * @internal
 */
import { randomFillSync } from "node:crypto";
import { RPCError } from "../errors.js";
import { warnEverySecond, type Logger } from "../log.js";
import { Instruction } from "../scheduler/instruction.js";
import { resume } from "../scheduler/resume.js";
import type { Task } from "../scheduler/task.js";
import { setTimer } from "../scheduler/timers.js";
import type { Link } from "../transport/types.js";
import type { Peer } from "./peers.js";

export type RPCResult<T = unknown> = [T, null] | [null, RPCError];

const RESEND_MS = 100;

/** Slots the table starts with, as a power of two; it doubles when every slot is in use. */
const FIRST_BITS = 10;
/** At most 2^24 calls pending in one service: an id keeps 7 random bits even then. */
const MAX_BITS = 24;

/**
 * Sessions by id in an array of slots: an id's low bits are its slot, the rest are random. A
 * Map keyed by random ids cost more than anything else a call does here (its table fills with
 * deleted entries and rehashes under constant churn); a slot is an array index. A reply's id
 * must match the whole id of the session in its slot, so a reply for a call that ended finds
 * nothing even when its slot is in use again. When the slots run out the array doubles, and
 * every pending session moves to the slot its id's one more low bit gives: ids in different
 * slots differ in their low bits, so they still differ with one more.
 */
export class SessionTable {
  private slots: (Session | undefined)[] = new Array(1 << FIRST_BITS).fill(undefined);
  private bits = FIRST_BITS;
  /** Free slot numbers, a stack: `free[0 .. freeCount)`. */
  private free = Int32Array.from({ length: 1 << FIRST_BITS }, (_, i) => (1 << FIRST_BITS) - 1 - i);
  private freeCount = 1 << FIRST_BITS;
  private count = 0;
  /** Random 32-bit words, refilled from the system's CSPRNG a few thousand at a time. */
  private readonly pool = new Uint32Array(2048);
  private poolNext = this.pool.length;
  private readonly foreignReplies = warnEverySecond((n) => `dropped ${n} reply frame(s) for pending calls that arrived on a connection the call was not sent on (forged, or a buggy peer)`);

  constructor(private readonly log: Logger) {}

  /**
   * An id for the next call to be added: a free slot in its low bits, random bits above them, in
   * 1 … 2^31−1 (31 bits, so that an id is a small integer to V8, a Smi, and never a heap
   * number). Ask just before the CALL is encoded, and add the call (`add`) before the next id is
   * asked for: the slot is not reserved until then.
   */
  freshId(): number {
    if (this.freeCount === 0) this.grow();
    const slot = this.free[this.freeCount - 1]!;
    for (;;) {
      if (this.poolNext === this.pool.length) {
        randomFillSync(this.pool);
        this.poolNext = 0;
      }
      const id = (this.pool[this.poolNext++]! >>> (1 + this.bits)) * (1 << this.bits) + slot;
      if (id !== 0) return id;
    }
  }

  /** @internal Session.enter/exit. */
  add(session: Session): void {
    const slot = session.id & ((1 << this.bits) - 1);
    if (this.slots[slot] !== undefined) throw new Error(`session slot ${slot} is in use: a call was added without an id of its own from freshId()`);
    // The slot is free, so its number is on the free stack: the top, unless ids were handed out
    // and not used (a call halted before it waited) since this one's.
    const top = --this.freeCount;
    if (this.free[top] !== slot) this.free[this.free.subarray(0, top).indexOf(slot)] = this.free[top]!;
    this.slots[slot] = session;
    this.count++;
  }
  remove(session: Session): void {
    const slot = session.id & ((1 << this.bits) - 1);
    if (this.slots[slot] !== session) return;
    this.slots[slot] = undefined;
    this.free[this.freeCount++] = slot;
    this.count--;
  }

  get size(): number {
    return this.count;
  }

  private grow(): void {
    if (this.bits === MAX_BITS) throw new Error(`${this.count} calls are pending in this service, the most it can track`);
    const bits = this.bits + 1;
    const slots: (Session | undefined)[] = new Array(1 << bits).fill(undefined);
    for (const session of this.slots) if (session !== undefined) slots[session.id & ((1 << bits) - 1)] = session;
    const free = new Int32Array(1 << bits);
    let n = 0;
    for (let i = slots.length - 1; i >= 0; i--) if (slots[i] === undefined) free[n++] = i;
    this.slots = slots;
    this.bits = bits;
    this.free = free;
    this.freeCount = n;
  }

  /**
   * Settle call `id` with a result or an error that arrived on `link`. A late or unknown id, or
   * one that was sent on another link, is dropped and counted (returns false).
   */
  settle(link: Link, id: number, result: RPCResult): boolean {
    const session = this.slots[id & ((1 << this.bits) - 1)];
    if (session === undefined || session.id !== id || session.task === null) {
      this.log.debug(`dropped a reply to call ${id}: no such call is pending (it ended already)`);
      return false;
    }
    if (session.link !== link) {
      this.foreignReplies();
      return false;
    }
    return resume(session.task, session, result);
  }

  /** Fail every call waiting on `peer`: its connection dropped. */
  failPeer(peer: Peer, error: () => RPCError): void {
    for (const session of this.slots) { // resume() empties the slot: safe while iterating
      if (session !== undefined && session.peer === peer && session.task !== null) resume(session.task, session, [null, error()]);
    }
  }
}

export class Session extends Instruction {
  /** Its id, given just before its CALL is encoded (0 until then): see SessionTable.freshId. */
  id = 0;
  /** The task waiting on this session, while it waits. */
  task: Task | null = null;
  /** The link the CALL went out on: the only one whose replies settle it. */
  link: Link | null = null;
  /** performance.now() when the call's deadline passes (0 until it is sent). */
  protected expires = 0;
  /** The CALL frame to send again on `link` while no reply comes (lossy links only). */
  private resend: Uint8Array | null = null;
  /** `deadline`: the call's timeout as asked for; `left`: what remains of it after connecting
   * (and, once it is sent, after waiting for the peer's features: call.ts). */
  constructor(readonly peer: Peer, readonly func: string, private readonly deadline: number, protected left: number) {
    super();
  }
  /** The CALL goes out on `link`: the reply must come back there, and on a lossy link `body` is
   * sent again every RESEND_MS until it does. */
  protected sentOn(link: Link, body: Uint8Array): void {
    this.link = link;
    if (!link.reliable) this.resend = body;
  }
  get name(): string {
    return `RPCCall ${this.peer.name}.${this.func}`;
  }
  enter(task: Task): void {
    this.task = task;
    this.peer.pending++;
    this.peer.load.n++;
    this.peer.counters.callsOut++;
    this.peer.sessions.add(this);
    const now = performance.now();
    this.expires = now + this.left;
    setTimer(task, this.resend === null ? this.left : Math.min(RESEND_MS, this.left), now);
  }
  override timeout(task: Task): void {
    const left = this.expires - performance.now();
    if (this.resend !== null && left >= 1 && !this.link!.closed) {
      this.link!.send(this.resend);
      setTimer(task, Math.min(RESEND_MS, left));
      return;
    }
    resume(task, this, [null, this.timedOut()]);
  }
  /** The error of a call whose deadline passed. */
  protected timedOut(): RPCError {
    return new RPCError("timeout", `${this.peer.name}.${this.func} did not answer within ${this.deadline} ms`);
  }
  override exit(): void {
    this.task = null;
    this.peer.pending--;
    this.peer.load.n--;
    this.peer.sessions.remove(this);
  }
}
