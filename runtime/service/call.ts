/**
 * One RPC call on a peer, inside the calling task: connect if needed, send CALL, wait for the
 * session to settle. Never throws: every failure is a typed error in the result.
 * @internal
 */
import { LuanetError, RPCError } from "../errors.js";
import type { Instruction } from "../scheduler/instruction.js";
import { suspend } from "../scheduler/loop.js";
import { encode, Type } from "../wire/envelope.js";
import { awaitWithin, TIMED_OUT } from "./await-within.js";
import type { Link } from "../transport/types.js";
import type { Conn } from "./conn.js";
import type { Peer } from "./peers.js";
import { nextId, Session, type RPCResult } from "./sessions.js";

/** The peer's connection, opened if need be within `ms`; an RPCError if that fails. */
export function* connected(peer: Peer, ms: number): Generator<Instruction, Conn | RPCError, unknown> {
  if (peer.conn !== null) return peer.conn;
  try {
    const conn = yield* awaitWithin(peer.connect(), ms, `connect(${peer.name})`);
    return conn === TIMED_OUT ? new RPCError("timeout", `connecting to ${peer.name} took longer than ${ms} ms`) : conn;
  } catch (error) {
    return error instanceof RPCError ? error : new RPCError("unavailable", String((error as Error).message ?? error));
  }
}

/** Encode a frame for `link`: a value too large for it, or that cannot be encoded, is an RPCError. */
export function frame(build: () => Uint8Array, what: string, link: Link): Uint8Array | RPCError {
  let body: Uint8Array;
  try {
    body = build();
  } catch (error) {
    return new RPCError(error instanceof LuanetError ? error.code : "bad_value", (error as Error).message);
  }
  if (body.length > link.maxFrame) {
    const limit = link.reliable
      ? `the maximum frame of ${link.maxFrame} bytes (luanet.Configure({ maxFrameBytes }))`
      : `the ${link.maxFrame} bytes that fit in one UDP datagram`;
    return new RPCError("too_large", `${what} is ${body.length} bytes, over ${limit}`);
  }
  return body;
}

export function* call(peer: Peer, func: string, args: unknown, ms: number): Generator<Instruction, RPCResult, unknown> {
  let conn = peer.conn;
  let left = ms;
  if (conn === null) { // time spent connecting counts against the deadline
    const started = performance.now();
    const c = yield* connected(peer, ms);
    if (c instanceof RPCError) return [null, c];
    conn = c;
    left = Math.max(1, ms - (performance.now() - started));
  }
  const id = nextId();
  const body = frame(() => encode([Type.CALL, id, func, args]), `the call to ${peer.name}.${func}`, conn.link);
  if (body instanceof RPCError) return [null, body];
  conn.link.send(body);
  const resend = conn.link.reliable ? null : { link: conn.link, body };
  return yield* suspend<RPCResult>(new Session(id, peer, func, ms, left, resend), "luanet.RPCCall");
}
