/**
 * What arrives for a service: messages to its mailbox, calls to their handlers, replies to its
 * session table. Calls come over a connection or from a service of this process (local-call.ts);
 * both take the same road. Calls run their handler at once; a handler that is a generator (or
 * returns a promise) gets a task of its own, at most `maxConcurrentHandlers` at a time, with a
 * queue behind them bounded in calls and in bytes. A queued call whose caller has given up (the
 * deadline its CALL carried has passed) is dropped unanswered. Every other call gets exactly one
 * reply; a handler's error is the caller's error. While the service drains (it was told to stop
 * and has left the registry) the handlers running go on, but no other starts: queued calls, and
 * calls that arrive, are answered `draining` (they never ran: a group caller tries another
 * member). Once the service stops no handler starts: queued calls, and calls that arrive, are
 * answered `shutting_down`, as are handlers halted unfinished. On links that lose frames (UDP) callers resend; a duplicate of a call is answered
 * from a cache of recent replies (bounded in count per link and in bytes over all links,
 * reply-cache.ts), or ignored while its handler still runs or once its reply is forgotten, so
 * each call runs at most once.
 * @internal
 */
import type { Context, Span } from "@opentelemetry/api";
import { RPCError, thrown } from "../errors.js";
import { runAs } from "../scheduler/context.js";
import { isIterator, isThenable, settleValue } from "../scheduler/promise.js";
import { spawnNamed } from "../scheduler/spawn.js";
import type { Task } from "../scheduler/task.js";
import { NO_SECRET } from "../security/handshake.js";
import { encode, ProtocolError, Type, type Envelope } from "../wire/envelope.js";
import { frame, Unsendable } from "./call.js";
import { Conn } from "./conn.js";
import type { FuncCounters } from "../stats/counters.js";
import { RECENT_REPLIES } from "./reply-cache.js";
import type { Service } from "./service.js";
import { CLIENT_FUNCTION, unwrapClientCall } from "../gate/client-call.js";
import type { ClientSession } from "../gate/session.js";

/** What a handler learns about the call besides its arguments. */
export interface CallContext {
  /** The calling service's name; null for a process with no service (a CLI tool). */
  readonly from: string | null;
  /** The function called. */
  readonly func: string;
  /** @internal The connection the call came in on; null for a call from this process. */
  readonly conn: Conn | null;
  /** The player's session when a client called through a gate (luanet.RegClientFunction), else null. */
  readonly session: ClientSession | null;
}

export type Handler = (args: any, ctx: CallContext) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A call from a service of this process: the reply is handed over (copied), not sent. */
export interface LocalOrigin {
  readonly from: string | null;
  /** The caller no longer waits (its deadline passed, or it was halted). */
  readonly gone: boolean;
  ok(func: string, result: unknown): void;
  error(code: string, message: string, stack: string | null): void;
}

type Origin = Conn | LocalOrigin;

/** A call waiting for a handler slot. */
interface Queued {
  origin: Origin;
  id: number;
  func: string;
  body: unknown;
  /** What its frame takes once decoded (wire/cbor-subset.ts): what handlerQueueBytes counts. */
  cost: number;
  /** performance.now() past which its caller no longer waits (Infinity: the CALL did not say). */
  expires: number;
  /** Its function's counters (null: not counting), and when it arrived. */
  counters: FuncCounters | null;
  started: number;
  /** Its server span (null: not traced). */
  span: Span | null;
}

/** While calls are queued: drop those whose callers gave up or went away, so their memory goes. */
const PURGE_MS = 250;
/** What the counters call a queued call dropped unanswered because its caller gave up or left. */
const EXPIRED = "expired";

const gone = (origin: Origin): boolean => (origin instanceof Conn ? origin.link.closed : origin.gone);

export class Dispatcher {
  readonly handlers = new Map<string, Handler>();
  /** The handlers clients may reach through a gate (luanet.RegClientFunction). */
  readonly clientFunctions = new Set<string>();
  private running = 0;
  private queued: Queued[] = [];
  private queuedHead = 0;
  private queuedBytes = 0;
  private purging: NodeJS.Timeout | null = null;
  private stopped = false;
  private draining = false;
  /** performance.now() of the last call that arrived while draining (the drain waits for callers to fall quiet). */
  lastCall = -Infinity;
  /** Told when no handler runs any more (see `idle`). */
  private idleWaiters: (() => void)[] = [];
  /** The tasks running its handlers (see `serving`). */
  private readonly handlerTasks = new WeakSet<Task>();

  constructor(private readonly service: Service) {}

  /** True if `task` runs a handler of this service: its calls are a hop, not the original caller's. */
  serving(task: Task | null): boolean {
    return task !== null && this.handlerTasks.has(task);
  }

  /** A frame from `conn`. */
  receive(conn: Conn, envelope: Envelope, cost: number): void {
    switch (envelope[0]) {
      case Type.MSG:
        conn.counters!.msgsIn++;
        return this.service.mailbox.deliver(conn.peerName, envelope[1], cost, conn.link);
      case Type.CALL: {
        // A traced CALL's 6th and 7th items: the caller's trace context (docs/protocol.md 4).
        const parent = envelope.length > 5 ? this.service.runtime.tracing.remote(envelope[5]!, envelope[6]) : null;
        return this.call(conn, envelope[1], envelope[2], envelope[3], envelope[4], cost, parent);
      }
      case Type.REPLY: return void this.service.sessions.settle(conn.link, envelope[1], [envelope[2], null]);
      case Type.ERROR: return void this.service.sessions.settle(conn.link, envelope[1], [null, new RPCError(envelope[2], envelope[3], envelope[4])]);
      case Type.CHALLENGE:
      case Type.PROOF: throw new ProtocolError(NO_SECRET);
      case Type.PING: return conn.pong(); // Conn.lastSeen was updated
      case Type.HELLO: return; // a second HELLO changes nothing
    }
  }

  /** Call `func` with `args` (already copied or decoded) for `origin`; exactly one reply follows
   * unless the call is a resent duplicate or its caller gives up while it waits in the queue.
   * `parent`: the trace context the caller made it in (tracing/tracing.ts), if it said. */
  call(origin: Origin, id: number, func: string, args: unknown, timeoutMs: number | undefined, cost: number, parent: Context | null = null): void {
    if (origin instanceof Conn) origin.counters!.callsIn++; // (a local call counts itself: local-call.ts)
    if (this.draining) this.lastCall = performance.now();
    // A service that drained stays `draining` to the end: a late call never ran, wherever it arrives.
    if (this.stopped) return this.draining ? this.refuseDraining(origin, id) : this.shuttingDown(origin, id);
    if (origin instanceof Conn && !origin.link.reliable) {
      const recent = (origin.recent ??= new Map());
      if (recent.has(id)) {
        const reply = recent.get(id);
        if (reply) origin.link.send(reply); // the reply was lost: send it again
        return;
      }
      recent.set(id, null);
      if (recent.size > RECENT_REPLIES) recent.delete(recent.keys().next().value!);
    }
    if (this.draining) return this.refuseDraining(origin, id);
    let session: ClientSession | null = null;
    if (func === CLIENT_FUNCTION) {
      // A client's request through a gate: only an allow-listed function, with ctx.session.
      const unwrapped = unwrapClientCall(args);
      if (typeof unwrapped === "string") return this.replyError(origin, id, "bad_request", unwrapped);
      if (!this.clientFunctions.has(unwrapped.f)) {
        this.service.counters.unknownCalls++;
        return this.replyError(origin, id, "no_such_function", `${this.service.named ?? "this process"} has no function "${unwrapped.f}"`);
      }
      ({ f: func, a: args, s: session } = unwrapped);
    }
    const own = this.handlers.get(func);
    const handler = own ?? this.service.reserved.get(func);
    if (handler === undefined) {
      this.service.counters.unknownCalls++;
      return this.replyError(origin, id, "no_such_function", `${this.service.named ?? "this process"} has no function "${func}"`);
    }
    // luanet.* calls (stats, tasks, reload) are the tools' and are not counted with the service's own.
    const counters = own === undefined ? null : this.service.counters.func(func);
    const started = counters === null ? 0 : counters.start();
    // Nor are they traced: only the service's own handlers get a server span.
    const span = own === undefined ? null : this.service.runtime.tracing.server(parent, this.service.named!, func);
    let out: unknown;
    let later: boolean;
    try {
      const ctx: CallContext = origin instanceof Conn ? { from: origin.peerName, func, conn: origin, session } : { from: origin.from, func, conn: null, session };
      out = runAs(this.service, handler, args, ctx);
      later = isIterator(out) || isThenable(out); // reads out.next, out.then: a hostile result's getter may throw
    } catch (error) {
      return this.replyThrown(origin, id, func, error, counters, started, span);
    }
    if (!later) return this.replyOk(origin, id, func, out, counters, started, span);
    const config = this.service.config;
    if (this.running < config.maxConcurrentHandlers) return this.runHandler(origin, id, func, out, counters, started, span);
    const waiting = this.queued.length - this.queuedHead;
    if (waiting >= config.handlerQueue || this.queuedBytes + cost > config.handlerQueueBytes) {
      return this.replyError(origin, id, "overloaded", `${this.service.named ?? "this process"} has ${this.running} calls running and ${waiting} (${this.queuedBytes} bytes) queued; try again later (luanet.Configure({ handlerQueue, handlerQueueBytes }))`, null, counters, started, span);
    }
    this.queued.push({ origin, id, func, body: out, cost, expires: timeoutMs === undefined ? Infinity : performance.now() + timeoutMs, counters, started, span });
    this.queuedBytes += cost;
    this.purging ??= setInterval(() => this.purge(), PURGE_MS).unref();
  }

  /** The next queued call still wanted, or undefined. */
  private nextQueued(): Queued | undefined {
    const now = performance.now();
    while (this.queuedHead < this.queued.length) {
      const q = this.queued[this.queuedHead]!;
      this.queued[this.queuedHead++] = undefined as unknown as Queued;
      this.queuedBytes -= q.cost;
      if (q.expires > now && !gone(q.origin)) return q;
      this.done(q.counters, q.started, q.span, EXPIRED, "its caller gave up or left while it was queued");
    }
    this.queued.length = this.queuedHead = 0;
    if (this.purging !== null) clearInterval(this.purging);
    this.purging = null;
    return undefined;
  }

  /** Drop the queued calls whose callers gave up (deadline passed) or went away (link closed). */
  private purge(): void {
    const now = performance.now();
    let kept = 0;
    for (let i = this.queuedHead; i < this.queued.length; i++) {
      const q = this.queued[i]!;
      if (q.expires > now && !gone(q.origin)) this.queued[kept++] = q;
      else {
        this.queuedBytes -= q.cost;
        this.done(q.counters, q.started, q.span, EXPIRED, "its caller gave up or left while it was queued");
      }
    }
    this.queued.length = kept;
    this.queuedHead = 0;
    if (kept === 0 && this.purging !== null) {
      clearInterval(this.purging);
      this.purging = null;
    }
  }

  private runHandler(origin: Origin, id: number, func: string, body: unknown, counters: FuncCounters | null, started: number, span: Span | null): void {
    this.running++;
    const self = this;
    const task = spawnNamed(`rpc ${func}`, function* () {
      let answered = false;
      try {
        const result = yield* settleValue(body);
        answered = true;
        self.replyOk(origin, id, func, result, counters, started, span);
      } catch (error) {
        answered = true;
        self.replyThrown(origin, id, func, error, counters, started, span);
      } finally {
        self.running--;
        if (!answered) self.shuttingDown(origin, id, counters, started, span); // halted: only a stop halts a handler's task
        if (!self.stopped && !self.draining) {
          const next = self.nextQueued();
          if (next !== undefined) self.runHandler(next.origin, next.id, next.func, next.body, next.counters, next.started, next.span);
        }
        if (self.running === 0) for (const done of self.idleWaiters.splice(0)) done();
      }
    }, [], this.service);
    // Its calls, and the tasks it spawns, are made in its server span (not in whatever task ran
    // when the call arrived).
    task._trace = span === null ? null : this.service.runtime.tracing.within(null, span);
    this.handlerTasks.add(task);
  }

  private shuttingDown(origin: Origin, id: number, counters: FuncCounters | null = null, started = 0, span: Span | null = null): void {
    this.replyError(origin, id, "shutting_down", `${this.service.named ?? "this process"} is shutting down`, null, counters, started, span);
  }

  private refuseDraining(origin: Origin, id: number, counters: FuncCounters | null = null, started = 0, span: Span | null = null): void {
    this.replyError(origin, id, "draining", `${this.service.named ?? "this process"} is leaving (draining): it did not run the call; try another provider`, null, counters, started, span);
  }

  /** The service drains: the handlers running go on, no other starts; every queued call, and
   * every call that arrives from now on, is answered `draining`. */
  drain(): void {
    this.draining = true;
    this.lastCall = performance.now(); // callers unaware yet may be sending: the drain lingers at least QUIET_MS
    for (let q = this.nextQueued(); q !== undefined; q = this.nextQueued()) this.refuseDraining(q.origin, q.id, q.counters, q.started, q.span);
  }

  /** Its handlers running, and the calls queued for them (count and decoded bytes). */
  get queue(): { running: number; queued: number; queuedBytes: number } {
    return { running: this.running, queued: this.queued.length - this.queuedHead, queuedBytes: this.queuedBytes };
  }

  /** Handlers running now. */
  get runningHandlers(): number {
    return this.running;
  }

  /** Resolves once no handler runs (at once if none does). */
  idle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** The service stops: no handler starts any more, and every queued call is answered. */
  stop(): void {
    this.stopped = true;
    for (let q = this.nextQueued(); q !== undefined; q = this.nextQueued()) this.shuttingDown(q.origin, q.id, q.counters, q.started, q.span);
  }

  /** Replies travel back on the connection the call came in on: the only one the caller accepts
   * them from (sessions.ts). */
  private replyOk(origin: Origin, id: number, func: string, result: unknown, counters: FuncCounters | null, started: number, span: Span | null): void {
    if (!(origin instanceof Conn)) {
      this.done(counters, started, span, null);
      return origin.ok(func, result);
    }
    const body = frame([Type.REPLY, id, result], origin.link);
    if (body instanceof Unsendable) {
      const error = body.error(`the result of ${func}`);
      return this.replyError(origin, id, error.code, error.message, null, counters, started, span);
    }
    this.done(counters, started, span, null);
    this.sendReply(origin, id, body);
  }

  private replyThrown(origin: Origin, id: number, func: string, error: unknown, counters: FuncCounters | null, started: number, span: Span | null): void {
    // A LuanetError the handler raised on purpose keeps its code; anything else, including an
    // RPCError from a call the handler made, is the caller's "remote_error". Reading what was
    // thrown never throws, whatever the handler threw.
    const { code, message, stack } = thrown(error);
    this.service.log.debug(`${func} threw for ${origin instanceof Conn ? origin.describe() : origin.from ?? "this process"}: ${message}`);
    this.replyError(origin, id, code ?? "remote_error", message, stack, counters, started, span);
  }

  private replyError(origin: Origin, id: number, code: string, message: string, stack: string | null = null, counters: FuncCounters | null = null, started = 0, span: Span | null = null): void {
    this.done(counters, started, span, code, message);
    if (!(origin instanceof Conn)) return origin.error(code, message, stack);
    this.sendReply(origin, id, encode([Type.ERROR, id, code, message, stack]));
  }

  /** A call of a handler is answered (`outcome`: null for a result, else its error code), or
   * dropped unanswered (EXPIRED, a label of the counters and spans, never sent). */
  private done(counters: FuncCounters | null, started: number, span: Span | null, outcome: string | null, message?: string): void {
    counters?.done(started, outcome);
    if (span !== null) this.service.runtime.tracing.end(span, outcome, message);
  }

  private sendReply(conn: Conn, id: number, body: Uint8Array): void {
    if (conn.recent?.has(id)) this.service.runtime.replies.keep(conn, id, body);
    conn.link.send(body);
  }
}
