/**
 * What arrives on any connection: messages to the mailbox, calls to their handlers, replies to
 * the session table. Calls run their handler at once; a handler that is a generator (or returns
 * a promise) gets a task of its own, at most `maxConcurrentHandlers` at a time, with a bounded
 * queue behind them. Every call gets exactly one reply; a handler's error is the caller's error.
 * On links that lose frames (UDP) callers resend; a duplicate of a call is answered from a cache
 * of recent replies, or ignored while its handler still runs, so each call runs at most once.
 * @internal
 */
import { RPCError, thrown } from "../errors.js";
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
const queued: (() => void)[] = [];

setDispatch((conn: Conn, envelope: Envelope) => {
  switch (envelope[0]) {
    case Type.MSG: return deliver(conn, envelope[1]);
    case Type.CALL: return call(conn, envelope[1], envelope[2], envelope[3]);
    case Type.REPLY: return void settle(conn.link, envelope[1], [envelope[2], null]);
    case Type.ERROR: return void settle(conn.link, envelope[1], [null, new RPCError(envelope[2], envelope[3], envelope[4])]);
    case Type.CHALLENGE:
    case Type.PROOF: throw new ProtocolError(NO_SECRET);
    case Type.PING: return pong(conn); // Conn.lastSeen was updated
    case Type.HELLO: return; // a second HELLO changes nothing
  }
});

/** Replies remembered per lossy link, for answering resent calls. */
const RECENT_REPLIES = 1024;

function call(conn: Conn, id: number, func: string, args: unknown): void {
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
  if (queued.length >= config.handlerQueue) {
    return replyError(conn, id, "overloaded", `${local.name} has ${running} calls running and ${queued.length} queued; try again later`);
  }
  queued.push(() => runHandler(conn, id, func, out));
}

function runHandler(conn: Conn, id: number, func: string, body: unknown): void {
  running++;
  spawnNamed(`rpc ${func}`, function* () {
    try {
      const result = yield* settleValue(body);
      replyOk(conn, id, func, result);
    } catch (error) {
      replyThrown(conn, id, func, error);
    } finally {
      running--;
      queued.shift()?.();
    }
  });
}

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
  if (conn.recent?.has(id)) conn.recent.set(id, body);
  conn.link.send(body);
}
