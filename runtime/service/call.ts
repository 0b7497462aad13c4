/**
 * One RPC call on a peer, inside the calling task: connect if needed, send CALL, wait for the
 * session to settle. Never throws: every failure is a typed error in the result.
 * @internal
 */
import type { Context } from "@opentelemetry/api";
import { LuanetError, RegistryAwayError, RPCError } from "../errors.js";
import type { TraceFields } from "../tracing/tracing.js";
import { Sleep } from "../scheduler/sleep.js";
import type { Instruction, Operation } from "../scheduler/instruction.js";
import { current } from "../scheduler/drive.js";
import { outsideTask } from "../scheduler/suspension.js";
import { encode, Type, type Envelope } from "../wire/envelope.js";
import { awaitWithin, TIMED_OUT } from "../scheduler/await-within.js";
import type { Link } from "../transport/types.js";
import type { Conn } from "./conn.js";
import { FeaturesWait, PeerFeatures } from "./features.js";
import type { Peer } from "./peers.js";
import { Session, type RPCResult } from "./sessions.js";

/** How often a look-up is tried again while the registry is away. */
const LOOKUP_RETRY_MS = 100;

/**
 * `attempt(left)`'s value, `left` being the ms that remain of `ms`, trying again every
 * LOOKUP_RETRY_MS while it fails with RegistryAwayError (the registry is restarting) and time is
 * left; other errors throw.
 */
export function* lookingUp<T>(attempt: (left: number) => Operation<T>, ms: number): Generator<Instruction, T, unknown> {
  const deadline = performance.now() + ms;
  for (;;) {
    const left = Math.max(1, deadline - performance.now());
    try {
      return yield* attempt(left);
    } catch (error) {
      if (!(error instanceof RegistryAwayError) || deadline - performance.now() <= LOOKUP_RETRY_MS) throw error;
      yield* Sleep(LOOKUP_RETRY_MS);
    }
  }
}

/** The peer's connection, opened if need be within `ms` (its name looked up in the service's
 * registry first); an RPCError if that fails. */
export function* connected(peer: Peer, ms: number): Generator<Instruction, Conn | RPCError, unknown> {
  if (peer.conn !== null) return peer.conn;
  const started = performance.now();
  try {
    let endpoint = peer.endpoint;
    if (endpoint === null) {
      const info = yield* lookingUp((left) => peer.service.registry.lookup(peer.name, left), ms);
      if (info === null) return new RPCError("unavailable", `no service named "${peer.name}" is registered`);
      endpoint = { addr: info.addr, type: info.type };
    }
    const left = Math.max(1, ms - (performance.now() - started));
    const conn = yield* awaitWithin(peer.connect(endpoint), left, `connect(${peer.name})`);
    return conn === TIMED_OUT ? new RPCError("timeout", `connecting to ${peer.name} took longer than ${ms} ms`) : conn;
  } catch (error) {
    return error instanceof RPCError ? error : new RPCError("unavailable", String((error as Error).message ?? error));
  }
}

/** What a frame is checked against: the link (or peer) it will travel on. */
export type Carrier = Pick<Link, "maxFrame" | "reliable">;

/** Why a frame could not be made (see `frame`); its RPCError names what was being sent only when
 * asked, so the hot path builds no message. */
export class Unsendable {
  constructor(private readonly code: string, private readonly message: (what: string) => string) {}
  /** `what`: what was being sent ("the call to S.f"). */
  error(what: string): RPCError {
    return new RPCError(this.code, this.message(what));
  }
}

/** Encode `envelope` as a frame for `link`: a value too large for it, or that cannot be encoded,
 * is Unsendable. */
export function frame(envelope: Envelope, link: Carrier): Uint8Array | Unsendable {
  let body: Uint8Array;
  try {
    body = encode(envelope);
  } catch (error) {
    const message = (error as Error).message;
    return new Unsendable(error instanceof LuanetError ? error.code : "bad_value", () => message);
  }
  if (body.length > link.maxFrame) {
    const limit = link.reliable
      ? `the maximum frame of ${link.maxFrame} bytes (luanet.Configure({ maxFrameBytes }))`
      : `the ${link.maxFrame} bytes that fit in one UDP datagram`;
    return new Unsendable("too_large", (what) => `${what} is ${body.length} bytes, over ${limit}`);
  }
  return body;
}

/**
 * A call as an operation. On an open connection (the hot path) this is a single object, the
 * session itself: it sends the CALL when the task first steps into it and is what the task waits
 * on. Otherwise a generator connects first, the time spent counting against the deadline.
 */
export function call(peer: Peer, func: string, args: unknown, ms: number, left = ms): Operation<RPCResult> {
  return peer.conn !== null ? new Call(peer, func, args, ms, left) : connectThenCall(peer, func, args, ms, left);
}

/** `ms`: the deadline as asked for (what a timeout's message says); `left`: what remains of it. */
function* connectThenCall(peer: Peer, func: string, args: unknown, ms: number, left: number): Generator<Instruction, RPCResult, unknown> {
  const started = performance.now();
  const conn = yield* connected(peer, left);
  if (conn instanceof RPCError) return [null, conn];
  return (yield* new Call(peer, func, args, ms, Math.max(1, left - (performance.now() - started)))) as RPCResult;
}

/** One call: the operation a task `yield*`s and the session it waits on (`link` is set once
 * the CALL went out). A call made in a trace context (a traced task's) carries it, once the peer
 * has said it takes it (features.ts): the first such call on a connection waits for that answer. */
export class Call extends Session implements Operation<RPCResult>, Iterator<Instruction, RPCResult, unknown> {
  private sent = false;
  /** performance.now() when it began to wait for the peer's features (0: it did not). */
  private asked = 0;
  constructor(peer: Peer, func: string, private readonly args: unknown, ms: number, left = ms) {
    super(peer, func, ms, left);
  }
  [Symbol.iterator](): this {
    return this;
  }
  next(value?: unknown): IteratorResult<Instruction, RPCResult> {
    if (this.sent) return { value: value as RPCResult, done: true };
    const task = current;
    if (task === null) throw outsideTask("luanet.RPCCall");
    if (this.asked !== 0) {
      // Back from waiting for the peer's features: that time counts against the deadline.
      this.left -= performance.now() - this.asked;
      this.asked = 0;
      if (value === TIMED_OUT || this.left < 1) {
        this.expires = performance.now(); // nothing left of it (a group call does not try another member: group.ts)
        return { value: [null, this.timedOut()], done: true };
      }
    }
    const conn = this.peer.conn;
    let trace: TraceFields | null = null;
    if (conn !== null && task._trace !== null && this.peer.traced) {
      const features = (conn.features ??= new PeerFeatures(conn));
      if (features.trace === null) {
        this.asked = performance.now();
        return { value: new FeaturesWait(features.ask(), this.left, this.name), done: false };
      }
      if (features.trace) trace = this.peer.service.runtime.tracing.fields(task._trace as Context);
    }
    this.sent = true;
    if (conn === null) return { value: [null, new RPCError("disconnected", `the connection to ${this.peer.name} dropped before the call was sent`)], done: true };
    const config = this.peer.service.config;
    if (this.peer.pending >= config.maxPendingCalls) {
      return { value: [null, new RPCError("overloaded", `${this.peer.pending} calls to ${this.peer.name} are already waiting for replies (luanet.Configure({ maxPendingCalls }))`)], done: true };
    }
    // What is left of the deadline, in whole ms: the CALL tells the callee (docs/protocol.md 4).
    const timeoutMs = Math.ceil(this.left);
    const body = frame(trace === null ? [Type.CALL, this.id, this.func, this.args, timeoutMs] : [Type.CALL, this.id, this.func, this.args, timeoutMs, ...trace], conn.link);
    if (body instanceof Unsendable) return { value: [null, body.error(`the call to ${this.peer.name}.${this.func}`)], done: true };
    // The link would close rather than queue past maxSendBytes: refuse this call, keep the others.
    const queued = conn.link.buffered;
    if (queued > 0 && queued + body.length > config.maxSendBytes) {
      return { value: [null, new RPCError("overloaded", `${queued} bytes are already queued to ${this.peer.name}, which reads them slower than they are sent (luanet.Configure({ maxSendBytes }))`)], done: true };
    }
    this.sentOn(conn.link, body);
    conn.link.send(body);
    return { value: this, done: false };
  }
  return(value?: unknown): IteratorResult<Instruction, RPCResult> {
    return { value: value as RPCResult, done: true };
  }
}
