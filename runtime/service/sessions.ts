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

export class SessionTable {
  private readonly sessions = new Map<number, Session>();
  /** Random 32-bit words, refilled from the system's CSPRNG a few thousand at a time. */
  private readonly pool = new Uint32Array(2048);
  private poolNext = this.pool.length;
  private readonly foreignReplies = warnEverySecond((n) => `dropped ${n} reply frame(s) for pending calls that arrived on a connection the call was not sent on (forged, or a buggy peer)`);

  constructor(private readonly log: Logger) {}

  /**
   * A random id in 1 … 2^31−1 that no pending call uses. Random over all 31 bits, not merely
   * unique: on UDP a callee answers a resent id from its cache of recent replies, so an id used
   * again soon would get another call's answer. 31 bits, not 32, so that an id is a small
   * integer to V8 (a Smi): a larger one is a heap number, allocated per call and slower to hash.
   */
  freshId(): number {
    for (;;) {
      if (this.poolNext === this.pool.length) {
        randomFillSync(this.pool);
        this.poolNext = 0;
      }
      const id = this.pool[this.poolNext++]! >>> 1;
      if (id !== 0 && !this.sessions.has(id)) return id;
    }
  }

  /** @internal Session.enter/exit. */
  add(session: Session): void {
    this.sessions.set(session.id, session);
  }
  remove(session: Session): void {
    this.sessions.delete(session.id);
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Settle call `id` with a result or an error that arrived on `link`. A late or unknown id, or
   * one that was sent on another link, is dropped and counted (returns false).
   */
  settle(link: Link, id: number, result: RPCResult): boolean {
    const session = this.sessions.get(id);
    if (session === undefined || session.task === null) {
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
    for (const session of this.sessions.values()) { // resume() deletes the entry: safe while iterating a Map
      if (session.peer === peer && session.task !== null) resume(session.task, session, [null, error()]);
    }
  }
}

export class Session extends Instruction {
  readonly id: number;
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
    this.id = peer.sessions.freshId();
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
