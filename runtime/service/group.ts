/**
 * Calls and messages to a group: many services behind one name (luanet.JoinGroup). Each call
 * picks one live member (the registry's watch keeps the member list, registry/types.ts
 * `members`), by the caller's strategy:
 *
 *   least-pending (default)  of two members chosen at random, the one with fewer calls this
 *                            process has in flight to it (power of two choices): a slow member
 *                            has more in flight, so it is chosen less;
 *   round-robin              each member in turn (by name);
 *   random                   uniformly;
 *   key: "..."               rendezvous hashing: the member whose hash with the key is highest,
 *                            so a key keeps its member while that member lives, and when one
 *                            joins or leaves only the keys it wins or held move (about 1/n).
 *
 * `prefer: "process" | "host"` applies the same strategy to the members in this process (or on
 * this host) when there are any, and to all members when there are none.
 *
 * Failover: a member that cannot be reached before anything was sent (no connection, refused, the
 * link dropped before the CALL went out, its queue here full) is set aside for SUSPECT_MS and the
 * call goes to another member within the same deadline; so does a call the member refused
 * unrun (`overloaded`). A call that was sent is never sent again elsewhere unless the caller
 * says it is safe: `idempotent: true`, and then `disconnected`, `timeout` and `shutting_down`
 * are tried on another member too (each try but the last gets half of what is left of the
 * deadline, so a member that hangs leaves time for another). Only the original caller retries a
 * call that was sent: in a handler's task `idempotent` is ignored, so when A calls B and B's
 * handler calls C, a lost call to C comes back to A as an error, and A alone decides whether to
 * try another B: retries never multiply across hops. (Failing over before anything was sent can
 * run nothing twice, so every hop does that.) A member that is leaving answers `draining` to a call
 * it did not run: that call goes to another member too (it is passed over for SUSPECT_MS, until
 * the watch drops it).
 * @internal
 */
import { formatAddr } from "../../stdlib/net.js";
import { describe, isInstance, RPCError } from "../errors.js";
import { hostName } from "../host.js";
import type { ServiceInfo } from "../registry/types.js";
import type { Instruction, Operation } from "../scheduler/instruction.js";
import { awaitPromise } from "../scheduler/promise.js";
import type { Link } from "../transport/types.js";
import { current } from "../scheduler/drive.js";
import { Call, connected, lookingUp } from "./call.js";
import { localCall, localSend } from "./local-call.js";
import type { Peer } from "./peers.js";
import type { Service } from "./service.js";
import type { RPCResult } from "./sessions.js";

export type Balance = "least-pending" | "round-robin" | "random";
const BALANCES: readonly string[] = ["least-pending", "round-robin", "random"];

/** How a call or message to a group picks its member (luanet.RPCCall's and SendMsg's opts). */
export interface GroupOptions {
  balance?: Balance;
  /** Consistent choice: the same key goes to the same member while it lives. */
  key?: string;
  /** Among members in this process (or on this host) when there are any. */
  prefer?: "process" | "host";
  /** The call may run twice: retry `disconnected`, `timeout` and `shutting_down` on another member. */
  idempotent?: boolean;
}

/** A member that could not be reached is passed over this long, while others are left. */
const SUSPECT_MS = 1000;
const HOST = hostName();

/** Check the group fields of `opts` (a TypeError names what is wrong). */
export function checkGroupOptions(opts: GroupOptions, where: string): void {
  if (opts.balance !== undefined && !BALANCES.includes(opts.balance)) throw new TypeError(`${where}: opts.balance must be ${BALANCES.map((b) => JSON.stringify(b)).join(", ")}, got ${describe(opts.balance)}`);
  if (opts.key !== undefined && typeof opts.key !== "string") throw new TypeError(`${where}: opts.key must be a string, got ${describe(opts.key)}`);
  if (opts.prefer !== undefined && opts.prefer !== "process" && opts.prefer !== "host") throw new TypeError(`${where}: opts.prefer must be "process" or "host", got ${describe(opts.prefer)}`);
  if (opts.idempotent !== undefined && typeof opts.idempotent !== "boolean") throw new TypeError(`${where}: opts.idempotent must be true or false, got ${describe(opts.idempotent)}`);
}

/** Calls this process has in flight to each service, by name (sessions.ts and local-call.ts
 * count them): what least-pending compares. */
export class InFlight {
  /** One counter per member name seen (a few per group): kept, so a call costs no allocation. */
  private readonly counts = new Map<string, { n: number }>();
  of(name: string): number {
    return this.counts.get(name)?.n ?? 0;
  }
  counter(name: string): { n: number } {
    let counter = this.counts.get(name);
    if (counter === undefined) this.counts.set(name, (counter = { n: 0 }));
    return counter;
  }
}

/** One calling service's state for one group. */
export class Route {
  next = 0;
  /** Members that could not be reached, until when. */
  readonly suspects = new Map<string, number>();
}

/** A service's routes to the groups it has called. */
export class Routes {
  private readonly routes = new Map<string, Route>();
  /** The route to `group` if the name is known to be a group's. */
  known(group: string): Route | undefined {
    return this.routes.get(group);
  }
  route(group: string): Route {
    let route = this.routes.get(group);
    if (route === undefined) this.routes.set(group, (route = new Route()));
    return route;
  }
  /** `group` has no members: its name may be a service's next time. */
  forget(group: string): void {
    this.routes.delete(group);
  }
}

/** FNV-1a of `member`, a NUL and `key`, then murmur3's finalizer: a well-mixed 32-bit score. */
function score(key: string, member: string): number {
  let h = 0x811c9dc5;
  const text = `${member}\0${key}`;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** How a try is remembered: by name and address, so that a member that restarted elsewhere since
 * (a stale member list named its old address) can be tried again at its new one. */
const triedKey = (m: ServiceInfo): string => `${m.name} ${formatAddr(m.addr)}`;

/** The member for `opts` among `members` (sorted by name), leaving out `tried`; null if none is left. */
function pick(self: Service, route: Route, members: readonly ServiceInfo[], tried: Set<string> | null, opts: GroupOptions): ServiceInfo | null {
  let candidates = members;
  if (tried !== null || route.suspects.size > 0) {
    const now = performance.now(); // only then: the clock is a cost on the hot path
    candidates = members.filter((m) => tried?.has(triedKey(m)) !== true);
    const trusted = candidates.filter((m) => !((route.suspects.get(m.name) ?? 0) > now));
    if (trusted.length > 0) candidates = trusted;
    for (const [name, until] of route.suspects) if (until <= now) route.suspects.delete(name);
  }
  if (opts.prefer !== undefined) {
    const near = candidates.filter(opts.prefer === "process" ? (m) => self.runtime.local(m.name) !== undefined : (m) => m.host === HOST);
    if (near.length > 0) candidates = near;
  }
  const n = candidates.length;
  if (n <= 1) return candidates[0] ?? null;
  if (opts.key !== undefined) {
    let best = candidates[0]!;
    let bestScore = score(opts.key, best.name);
    for (let i = 1; i < n; i++) {
      const s = score(opts.key, candidates[i]!.name);
      if (s > bestScore || (s === bestScore && candidates[i]!.name < best.name)) [best, bestScore] = [candidates[i]!, s];
    }
    return best;
  }
  switch (opts.balance) {
    case "round-robin": {
      const i = route.next % n;
      route.next = (route.next + 1) % 0x40000000;
      return candidates[i]!;
    }
    case "random":
      return candidates[Math.floor(Math.random() * n)]!;
    default: {
      const i = Math.floor(Math.random() * n);
      let j = Math.floor(Math.random() * (n - 1));
      if (j >= i) j++;
      const a = candidates[i]!;
      const b = candidates[j]!;
      const load = self.runtime.inFlight;
      return load.of(b.name) < load.of(a.name) ? b : a;
    }
  }
}

/** Whether a failed try may go to another member: see the top of this file. */
function tryElsewhere(err: RPCError, sent: boolean, idempotent: boolean): boolean {
  if (!sent) return err.code !== "too_large" && err.code !== "bad_value";
  return err.code === "overloaded" || err.code === "draining" || (idempotent && (err.code === "disconnected" || err.code === "timeout" || err.code === "shutting_down"));
}

const asRPCError = (error: unknown): RPCError => (isInstance(error, RPCError) ? error : new RPCError("unavailable", String((error as Error)?.message ?? error)));

/** The members of `group` now: from the watch, else asked within `ms`. */
export function* membersOf(self: Service, group: string, ms: number): Generator<Instruction, readonly ServiceInfo[], unknown> {
  const registry = self.registry;
  return registry.cachedMembers(group) ?? (yield* lookingUp((left) => registry.members(group, left), ms));
}

/** The peer for a remote member, its address taken from the registration (no look-up). */
function peerOf(self: Service, member: ServiceInfo): Peer {
  const peer = self.peers.named(member.name);
  // Not connected: the registration is where it is now (an endpoint kept from before may be a
  // process that has since restarted elsewhere).
  if (peer.conn === null) peer.endpoint = { addr: member.addr, type: member.type };
  return peer;
}

const noMembers = (group: string) => new RPCError("unavailable", `the group "${group}" has no live members`);

/**
 * RPCCall to a group. On the hot path (members known from the watch, a remote member chosen
 * whose connection is open and has room, the call not idempotent) the operation is the call
 * itself, with nothing around it; a failure that may go to another member continues in
 * `groupCall`. Anything else is `groupCall` from the start.
 */
export function groupCallOp(self: Service, route: Route, group: string, func: string, args: unknown, ms: number, opts: GroupOptions): Operation<RPCResult> {
  const members = opts.idempotent === true ? undefined : self.registry.cachedMembers(group);
  if (members === undefined) return groupCall(self, group, func, args, ms, opts);
  const member = pick(self, route, members, null, opts);
  if (member === null || self.runtime.local(member.name) !== undefined) return groupCall(self, group, func, args, ms, opts, ms, member);
  const peer = peerOf(self, member);
  const conn = peer.conn;
  const config = self.config;
  // Room for the call (Call would refuse it unsent otherwise: that must fail over, so it goes the long way).
  if (conn === null || peer.pending >= config.maxPendingCalls || conn.link.buffered + config.maxFrameBytes > config.maxSendBytes) {
    return groupCall(self, group, func, args, ms, opts, ms, member);
  }
  return new MemberCall(self, group, member, peer, func, args, ms, opts);
}

/** A call to one member that, if it fails in a way another member may take, goes on as groupCall. */
class MemberCall extends Call {
  private rest: Generator<Instruction, RPCResult, unknown> | null = null;
  constructor(private readonly self: Service, private readonly group: string, private readonly member: ServiceInfo, peer: Peer, func: string, private readonly callArgs: unknown, private readonly ms: number, private readonly opts: GroupOptions) {
    super(peer, func, callArgs, ms);
  }
  override next(value?: unknown): IteratorResult<Instruction, RPCResult> {
    if (this.rest !== null) return this.rest.next(value);
    const step = super.next(value);
    if (!step.done) return step;
    const err = step.value[1];
    const sent = this.link !== null;
    if (err === null || !tryElsewhere(err, sent, false)) return step;
    const route = this.self.routes.route(this.group);
    if (!sent || err.code === "draining") route.suspects.set(this.member.name, performance.now() + SUSPECT_MS);
    const left = this.expires === 0 ? this.ms : this.expires - performance.now(); // unsent: no time went by
    if (!sent && err.code === "unavailable") this.self.registry.unreachable(this.group);
    this.rest = groupCall(this.self, this.group, this.func, this.callArgs, this.ms, this.opts, left, null, new Set([triedKey(this.member)]), err);
    return this.rest.next();
  }
  override return(value?: unknown): IteratorResult<Instruction, RPCResult> {
    return this.rest !== null ? this.rest.return(value as RPCResult) : super.return(value);
  }
  /** What the rest waits on failed (a registry's look-up rejecting): the rest handles it.
   * Without this, `yield*` of a MemberCall would throw "the iterator does not provide a 'throw' method". */
  throw(error: unknown): IteratorResult<Instruction, RPCResult> {
    if (this.rest !== null) return this.rest.throw(error);
    throw error;
  }
}

/** RPCCall to a group, the general way: see the top of this file. `first`: a member already
 * picked for the first try; `tried` and `last`: tries made already, and the last one's error. */
export function* groupCall(self: Service, group: string, func: string, args: unknown, ms: number, opts: GroupOptions, left = ms, first: ServiceInfo | null = null, tried: Set<string> | null = null, last: RPCError | null = null): Generator<Instruction, RPCResult, unknown> {
  const deadline = performance.now() + left;
  const route = self.routes.route(group);
  const idempotent = opts.idempotent === true && !self.dispatcher.serving(current);
  for (;;) {
    if (tried !== null) left = deadline - performance.now();
    if (left < 1) return [null, last ?? new RPCError("timeout", `no member of ${group} answered ${func} within ${ms} ms`)];
    let members = self.registry.cachedMembers(group);
    if (members === undefined) {
      try {
        members = yield* membersOf(self, group, left);
      } catch (error) {
        return [null, asRPCError(error)];
      }
    }
    const member = first ?? pick(self, route, members, tried, opts);
    first = null;
    if (member === null) {
      if (members.length === 0) self.routes.forget(group);
      return [null, last ?? noMembers(group)];
    }
    const others = members.length - (tried === null ? 1 : tried.size + 1);
    const budget = idempotent && others > 0 ? left / 2 : left;
    let result: RPCResult;
    let sent = true;
    {
      const here = self.runtime.local(member.name);
      if (here !== undefined) result = yield* localCall(self, here, func, args, budget);
      else {
        const peer = peerOf(self, member);
        let conn = peer.conn;
        let callMs = budget;
        if (conn === null) {
          const started = performance.now();
          const opened = yield* connected(peer, budget);
          if (opened instanceof RPCError) [result, sent] = [[null, opened], false];
          else conn = opened;
          callMs = Math.max(1, budget - (performance.now() - started));
        }
        if (conn !== null) {
          const call = new Call(peer, func, args, ms, callMs);
          result = (yield* call) as RPCResult;
          sent = call.link !== null;
        }
      }
    }
    const err = result![1];
    if (err === null || !tryElsewhere(err, sent, idempotent)) return result!;
    if (!sent || err.code === "draining") route.suspects.set(member.name, performance.now() + SUSPECT_MS);
    (tried ??= new Set()).add(triedKey(member));
    if (!sent && err.code === "unavailable") self.registry.unreachable(group);
    last = err;
  }
}

/** SendMsg to a group: to one member, the next one if it cannot be reached. */
export function* groupSend(self: Service, group: string, msg: unknown, opts: GroupOptions, send: (peer: Peer, started: number) => Generator<Instruction, RPCError | null, unknown>): Generator<Instruction, RPCError | null, unknown> {
  const started = performance.now();
  const ms = self.config.rpcTimeout;
  const route = self.routes.route(group);
  let tried: Set<string> | null = null;
  let last: RPCError | null = null;
  for (;;) {
    const left = ms - (performance.now() - started);
    if (left < 1) return last ?? new RPCError("timeout", `no member of ${group} could take the message within ${ms} ms`);
    let members: readonly ServiceInfo[];
    try {
      members = yield* membersOf(self, group, left);
    } catch (error) {
      return asRPCError(error);
    }
    const member = pick(self, route, members, tried, opts);
    if (member === null) return last ?? noMembers(group);
    (tried ??= new Set()).add(triedKey(member));
    const here = self.runtime.local(member.name);
    if (here !== undefined) return yield* localSend(self, here, msg);
    const peer = peerOf(self, member);
    if (peer.conn === null) {
      const conn = yield* connected(peer, left);
      if (conn instanceof RPCError) {
        route.suspects.set(member.name, performance.now() + SUSPECT_MS);
        self.registry.unreachable(group);
        last = conn;
        continue;
      }
    }
    return yield* send(peer, started);
  }
}

/** Turns of the event loop Broadcast lets pass for connections found closed to be seen closed. */
const CLOSE_TURNS = 4;

/** What Broadcast gives: the members it sent to, and those it could not reach, with why. */
export interface BroadcastResult {
  sent: string[];
  failed: { name: string; err: RPCError }[];
  /** Set when the members could not be listed at all (then `sent` and `failed` are empty). */
  err: RPCError | null;
}

/** One message to every live member of `group`, all at once; `sendTo(name)` sends to one. */
export function* broadcast(self: Service, group: string, sendTo: (name: string) => Generator<Instruction, RPCError | null, unknown>): Generator<Instruction, BroadcastResult, unknown> {
  let members: readonly ServiceInfo[];
  try {
    members = yield* membersOf(self, group, self.config.rpcTimeout);
  } catch (error) {
    return { sent: [], failed: [], err: asRPCError(error) };
  }
  const outcomes = new Map<string, RPCError | null>();
  /** The connection each remote message went out on. */
  const links = new Map<string, Link>();
  const tasks = members.map((m) => self.spawn(`broadcast to ${m.name}`, function* () {
    const remote = self.runtime.local(m.name) === undefined ? peerOf(self, m) : null;
    outcomes.set(m.name, yield* sendTo(m.name));
    if (remote?.conn != null) links.set(m.name, remote.conn.link);
  }));
  for (const task of tasks) yield* task;
  // Let the event loop read what already arrived: a member that died before we sent has closed
  // its end (the end of file is waiting to be read), and is then named, not counted as sent.
  // (Reading it, ending our side and closing take a few turns of the loop: CLOSE_TURNS.)
  for (let turn = 0; turn < CLOSE_TURNS && [...links.values()].some((link) => !link.closed); turn++) {
    yield* awaitPromise(new Promise((resolve) => setImmediate(resolve)));
  }
  const result: BroadcastResult = { sent: [], failed: [], err: null };
  for (const m of members) {
    let err = outcomes.get(m.name) ?? null;
    if (err === null && links.get(m.name)?.closed === true) err = new RPCError("disconnected", `the connection to ${m.name} closed as the message was sent to it: it may not have arrived`);
    if (err === null) result.sent.push(m.name);
    else result.failed.push({ name: m.name, err });
  }
  return result;
}
