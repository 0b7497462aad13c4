/**
 * What arrives on any connection: messages to the mailbox, calls to their handlers, replies to
 * the session table. Calls run their handler at once; a handler that is a generator (or returns
 * a promise) gets a task of its own, at most `maxConcurrentHandlers` at a time, with a queue
 * behind them bounded in calls and in bytes. A queued call whose caller has given up (the
 * deadline its CALL carried has passed) is dropped unanswered. Every other call gets exactly one
 * reply; a handler's error is the caller's error. Once shutdown begins no handler starts: queued
 * calls, and calls that arrive, are answered `shutting_down`, as are handlers halted unfinished.
 * On links that lose frames (UDP) callers resend; a duplicate of a call is answered from a cache
 * of recent replies (bounded in count per link and in bytes over all links), or ignored while
 * its handler still runs or once its reply is forgotten, so each call runs at most once.
 * @internal
 */
import { RPCError, thrown } from "../errors.js";
import { onShutdownStart } from "../lifecycle.js";
import { log } from "../log.js";
import { isIterator, isThenable, settleValue } from "../scheduler/loop.js";
import { spawnNamed } from "../scheduler/spawn.js";
import { encode, ProtocolError, Type, type Envelope } from "../wire/envelope.js";
import { frame } from "./call.js";
import { config } from "./config.js";
import { NO_SECRET } from "../security/handshake.js";
import { Conn, pong, setDispatch } from "./conn.js";
import { local } from "./local.js";
import { deliver } from "./mailbox.js";
import { settle } from "./sessions.js";

/** What a handler learns about the call besides its arguments. */
export interface CallContext {
  /** The calling service's name; null for a process with no service (a CLI tool). */
  readonly from: string | null;
  /** The function called. */
  readonly func: string;
  /** @internal The connection the call came in on. */
  readonly conn: Conn;
}

export type Handler = (args: any, ctx: CallContext) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

export const handlers = new Map<string, Handler>();
let running = 0;

/** A call waiting for a handler slot. */
interface Queued {
  conn: Conn;
  id: number;
  func: string;
  body: unknown;
  /** What its frame takes once decoded (wire/cbor-subset.ts): what handlerQueueBytes counts. */
  cost: number;
  /** performance.now() past which its caller no longer waits (Infinity: the CALL did not say). */
  expires: number;
}
const queued: Queued[] = [];
let queuedHead = 0;
let queuedBytes = 0;
/** While calls are queued: drop those whose callers gave up or went away, so their memory goes. */
let purging: NodeJS.Timeout | null = null;
const PURGE_MS = 250;
let stopping = false;

setDispatch((conn: Conn, envelope: Envelope, cost: number) => {
  switch (envelope[0]) {
    case Type.MSG: return deliver(conn, envelope[1], cost);
    case Type.CALL: return call(conn, envelope[1], envelope[2], envelope[3], envelope[4], cost);
    case Type.REPLY: return void settle(conn.link, envelope[1], [envelope[2], null]);
    case Type.ERROR: return void settle(conn.link, envelope[1], [null, new RPCError(envelope[2], envelope[3], envelope[4])]);
    case Type.CHALLENGE:
    case Type.PROOF: throw new ProtocolError(NO_SECRET);
    case Type.PING: return pong(conn); // Conn.lastSeen was updated
    case Type.HELLO: return; // a second HELLO changes nothing
  }
});

/** Calls remembered per lossy link, for answering resent calls (and never running one twice). */
const RECENT_REPLIES = 1024;
/**
 * Bytes (and number) of those replies kept over all lossy links. Past it the oldest are forgotten, but their
 * ids stay: a resend of such a call is ignored (its caller times out) rather than run again.
 */
export const RECENT_REPLY_BYTES = 16 * 1024 * 1024;
const RECENT_REPLIES_KEPT = 262_144;
// Oldest first, in three arrays (no object per reply): the link, the call id, the reply's size.
const keptConns: (Conn | undefined)[] = [];
const keptIds: number[] = [];
const keptSizes: number[] = [];
let keptHead = 0;
let keptBytes = 0;

/** Remember `body` as the reply to `id` on `conn`, forgetting the oldest kept past the budget. */
function keepReply(conn: Conn, id: number, body: Uint8Array): void {
  conn.recent!.set(id, body);
  keptConns.push(conn);
  keptIds.push(id);
  keptSizes.push(body.length);
  keptBytes += body.length;
  while (keptBytes > RECENT_REPLY_BYTES || keptConns.length - keptHead > RECENT_REPLIES_KEPT) {
    const old = keptConns[keptHead]!;
    keptConns[keptHead] = undefined;
    keptBytes -= keptSizes[keptHead]!;
    const oldId = keptIds[keptHead++]!;
    if (old.recent?.has(oldId)) old.recent.set(oldId, null);
  }
  if (keptHead > 1024 && keptHead * 2 > keptConns.length) {
    for (const kept of [keptConns, keptIds, keptSizes] as unknown[][]) kept.splice(0, keptHead);
    keptHead = 0;
  }
}

function call(conn: Conn, id: number, func: string, args: unknown, timeoutMs: number | undefined, cost: number): void {
  if (stopping) return shuttingDown(conn, id);
  if (!conn.link.reliable) {
    const recent = (conn.recent ??= new Map());
    if (recent.has(id)) {
      const reply = recent.get(id);
      if (reply) conn.link.send(reply); // the reply was lost: send it again
      return;
    }
    recent.set(id, null);
    if (recent.size > RECENT_REPLIES) recent.delete(recent.keys().next().value!);
  }
  const handler = handlers.get(func);
  if (handler === undefined) {
    return replyError(conn, id, "no_such_function", `${local.name ?? "this process"} has no function "${func}"`);
  }
  let out: unknown;
  let later: boolean;
  try {
    out = handler(args, { from: conn.peerName, func, conn });
    later = isIterator(out) || isThenable(out); // reads out.next, out.then: a hostile result's getter may throw
  } catch (error) {
    return replyThrown(conn, id, func, error);
  }
  if (!later) return replyOk(conn, id, func, out);
  if (running < config.maxConcurrentHandlers) return runHandler(conn, id, func, out);
  const waiting = queued.length - queuedHead;
  if (waiting >= config.handlerQueue || queuedBytes + cost > config.handlerQueueBytes) {
    return replyError(conn, id, "overloaded", `${local.name} has ${running} calls running and ${waiting} (${queuedBytes} bytes) queued; try again later (luanet.Configure({ handlerQueue, handlerQueueBytes }))`);
  }
  queued.push({ conn, id, func, body: out, cost, expires: timeoutMs === undefined ? Infinity : performance.now() + timeoutMs });
  queuedBytes += cost;
  purging ??= setInterval(purge, PURGE_MS).unref();
}

/** The next queued call still wanted, or undefined. */
function nextQueued(): Queued | undefined {
  const now = performance.now();
  while (queuedHead < queued.length) {
    const q = queued[queuedHead]!;
    queued[queuedHead++] = undefined as unknown as Queued;
    queuedBytes -= q.cost;
    if (q.expires > now && !q.conn.link.closed) return q;
  }
  queued.length = queuedHead = 0;
  if (purging !== null) clearInterval(purging);
  purging = null;
  return undefined;
}

/** Drop the queued calls whose callers gave up (deadline passed) or went away (link closed). */
function purge(): void {
  const now = performance.now();
  let kept = 0;
  for (let i = queuedHead; i < queued.length; i++) {
    const q = queued[i]!;
    if (q.expires > now && !q.conn.link.closed) queued[kept++] = q;
    else queuedBytes -= q.cost;
  }
  queued.length = kept;
  queuedHead = 0;
  if (kept === 0 && purging !== null) {
    clearInterval(purging);
    purging = null;
  }
}

function runHandler(conn: Conn, id: number, func: string, body: unknown): void {
  running++;
  spawnNamed(`rpc ${func}`, function* () {
    let answered = false;
    try {
      const result = yield* settleValue(body);
      answered = true;
      replyOk(conn, id, func, result);
    } catch (error) {
      answered = true;
      replyThrown(conn, id, func, error);
    } finally {
      running--;
      if (!answered) shuttingDown(conn, id); // halted: only shutdown halts a handler's task
      if (!stopping) {
        const next = nextQueued();
        if (next !== undefined) runHandler(next.conn, next.id, next.func, next.body);
      }
    }
  });
}

function shuttingDown(conn: Conn, id: number): void {
  replyError(conn, id, "shutting_down", `${local.name ?? "this process"} is shutting down`);
}

/** Shutdown has begun: no handler starts any more, and every queued call is answered. */
onShutdownStart(() => {
  stopping = true;
  for (let q = nextQueued(); q !== undefined; q = nextQueued()) shuttingDown(q.conn, q.id);
});

/** Replies travel back on the connection the call came in on: the only one the caller accepts
 * them from (sessions.ts). */
function replyOk(conn: Conn, id: number, func: string, result: unknown): void {
  const body = frame(() => encode([Type.REPLY, id, result]), `the result of ${func}`, conn.link);
  if (body instanceof RPCError) return replyError(conn, id, body.code, body.message);
  sendReply(conn, id, body);
}

function replyThrown(conn: Conn, id: number, func: string, error: unknown): void {
  // A LuanetError the handler raised on purpose keeps its code; anything else, including an
  // RPCError from a call the handler made, is the caller's "remote_error". Reading what was
  // thrown never throws, whatever the handler threw.
  const { code, message, stack } = thrown(error);
  log.debug(`${func} threw for ${conn.describe()}: ${message}`);
  replyError(conn, id, code ?? "remote_error", message, stack);
}

function replyError(conn: Conn, id: number, code: string, message: string, stack: string | null = null): void {
  sendReply(conn, id, encode([Type.ERROR, id, code, message, stack]));
}

function sendReply(conn: Conn, id: number, body: Uint8Array): void {
  if (conn.recent?.has(id)) keepReply(conn, id, body);
  conn.link.send(body);
}
