/**
 * The service half of the `luanet` object, each function acting for one service (`self`, the
 * current one; luanet.ts binds them): start the service, register it, and talk to other services
 * by name with messages and RPC. Wrong arguments are a TypeError at once; what the network or a
 * peer does is a value (`[ret, err]`, `err`).
 */
import { isNetAddr, SOCK_DGRAM, SOCK_STREAM, type NetAddr, type SocketType } from "../../stdlib/net.js";
import { describe, isInstance, LuanetError, RPCError } from "../errors.js";
import { badName } from "../names.js";
import { registryFor } from "../registry/select.js";
import type { Registry } from "../registry/types.js";
import { awaitWithin, TIMED_OUT } from "../scheduler/await-within.js";
import type { Instruction, Operation } from "../scheduler/instruction.js";
import { awaitPromise } from "../scheduler/promise.js";
import { Type } from "../wire/envelope.js";
import { call, connected, frame, lookingUp, Unsendable } from "./call.js";
import type { Handler } from "./dispatch.js";
import { broadcast, checkGroupOptions, groupCall, groupCallOp, groupSend, membersOf, type BroadcastResult, type GroupOptions } from "./group.js";
import type { Peer } from "./peers.js";
import { localCall, localSend } from "./local-call.js";
import type { DisconnectHandler } from "./presence.js";
import { RESERVED_PREFIX } from "./reserved.js";
import { tracedCall } from "./traced-call.js";
import type { Service } from "./service.js";
import type { RPCResult } from "./sessions.js";

export type { RPCResult } from "./sessions.js";
export type { CallContext } from "./dispatch.js";
export type { Message } from "./mailbox.js";
export type { DisconnectHandler, DisconnectReason } from "./presence.js";
export type { Balance, BroadcastResult, GroupOptions } from "./group.js";

/** A start-up step's outcome in the `ret, err` shape: `[value, null]` or `[null, err]`. */
export type Result<T> = [T, null] | [null, LuanetError];

/**
 * `work`, already started, as an operation: calling the function starts the work (so it can be
 * used at a script's top level, as in the original); a task that `yield*`s it gets its outcome.
 * If nothing ever does and the work fails, `unobserved` is told.
 */
function begun<T>(work: Promise<T>, unobserved: (error: Error) => void): Operation<T> {
  let observed = false;
  work.catch((error: Error) => {
    if (!observed) unobserved(error);
  });
  return {
    *[Symbol.iterator]() {
      observed = true;
      return yield* awaitPromise(work);
    },
  };
}

/**
 * A start-up step as a begun operation whose outcome a task gets as a value (`shape`); if nothing
 * waits and it fails, the failure is logged and fatal: to the process for its own service, to
 * the service for one started with NewService.
 */
export function started<T, R>(self: Service, what: string, work: Promise<T>, shape: (value: T | null, error: LuanetError | null) => R): Operation<R> {
  const op = begun(work, (error) => {
    if (self.reported.has(error)) return;
    self.reported.add(error); // registration fails with the listener's error: say it once
    self.runtime.startFailed(self, what, error);
  });
  return {
    *[Symbol.iterator]() {
      try {
        return shape(yield* op, null);
      } catch (error) {
        return shape(null, isInstance(error, LuanetError) ? error : new LuanetError("unavailable", String((error as Error)?.message ?? error)));
      }
    },
  };
}

/**
 * Start the current service: name it and listen on `addr` (its main listener). Port 0 picks a
 * free port; the real one is what gets registered: `const [addr, err] = yield*
 * luanet.StartLocalService(...)` gives it (err: address_in_use, listen_failed). Called without
 * `yield*`, a failure is fatal (see `started`). `onDisconnected(peer, reason)`: see README.
 * @example luanet.StartLocalService("PlusServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 8012))
 */
export function StartLocalService(self: Service, name: string, type: SocketType, addr: NetAddr, onDisconnected?: DisconnectHandler): Operation<Result<NetAddr>> {
  const where = "luanet.StartLocalService(name, type, addr, onDisconnected?)";
  const refused = badName(name);
  if (refused !== null) throw new TypeError(`${where}: ${refused}, got ${describe(name)}`);
  if (type !== SOCK_STREAM && type !== SOCK_DGRAM) throw new TypeError(`${where}: type must be SOCK_STREAM or SOCK_DGRAM, got ${describe(type)}`);
  if (!isNetAddr(addr)) throw new TypeError(`${where}: addr must come from net.netaddr_ipv4, netaddr_ipv6 or netaddr_local, got ${describe(addr)}`);
  if (onDisconnected !== undefined && typeof onDisconnected !== "function") throw new TypeError(`${where}: onDisconnected must be a function, got ${describe(onDisconnected)}`);
  if (self.reloads.reloading && self.named === name && self.type === type && self.listening !== null) {
    // A hot reload's body starts the service it runs already: the same listener (reload.ts).
    return started(self, `starting ${name}`, self.listening, (value, error) => (error === null ? [value!, null] : [null, error]));
  }
  if (self.named !== null) throw new TypeError(`${where}: this script already runs the service "${self.named}"; start another with luanet.NewService(script)`);
  if (self.stopping) throw new TypeError(`${where}: this service has stopped`);
  if (type === SOCK_DGRAM && addr.family === "local") {
    throw new TypeError(`${where}: Node.js has no UNIX datagram sockets, so SOCK_DGRAM needs netaddr_ipv4 or netaddr_ipv6; for a UNIX socket use SOCK_STREAM`);
  }
  const other = self.runtime.local(name);
  if (other !== undefined) throw new TypeError(`${where}: a service named "${name}" already runs in this process`);
  const listening = self.listen(name, type, addr, onDisconnected);
  return started(self, `starting ${name}`, listening, (value, error) => (error === null ? [value!, null] : [null, error]));
}

/**
 * Register the current service (its name, address, pid, host and RPC functions, including ones
 * registered later) with the registry at `nameaddr`: the built-in name service (a net address,
 * or "127.0.0.1:8010") or etcd ("etcd://host:port[,host:port...]"). `--registry` or
 * LUANET_REGISTRY, when given, choose the registry instead, so a script runs on etcd unchanged.
 * While the registry is unreachable it keeps retrying; if it loses the registration (a restart),
 * the service registers again by itself (and a hot reload's body calling it again gets the same
 * registration). A name held by another live service is refused:
 * `const err = yield* luanet.Register2Name(...)` gives the error (name_taken, bad_request, or the
 * listener's own); called without `yield*`, a failure is fatal (see `started`).
 * @example luanet.Register2Name(net.netaddr_ipv4("127.0.0.1", 8010))
 */
export function Register2Name(self: Service, nameaddr: NetAddr | string): Operation<LuanetError | null> {
  const spec = registryFor(nameaddr);
  if (self.listening === null) throw new TypeError("luanet.Register2Name(nameaddr): call luanet.StartLocalService first: there is no service to register");
  return started(self, `registering ${self.name}`, self.register(spec), (_, error) => error);
}

/**
 * Offer `fn` as the RPC function `name`. `fn(args, ctx)` may be a plain function (its return value
 * is the result) or a generator function (it runs in a task of its own and may block); a thrown
 * error becomes the caller's `remote_error`. Names beginning `luanet.` are luanet's own
 * (`luanet.reload`). During a hot reload the functions are staged, and swapped in together once
 * the new module body has run (reload.ts).
 * @example luanet.RegRPCFunction("Plus", ({ a, b }) => a + b)
 */
export function RegRPCFunction(self: Service, name: string, fn: Handler): void {
  const problem = badName(name);
  if (problem !== null) throw new TypeError(`luanet.RegRPCFunction(name, fn): name: ${problem}, got ${describe(name)}`);
  if (name.startsWith(RESERVED_PREFIX)) throw new TypeError(`luanet.RegRPCFunction(name, fn): names beginning "${RESERVED_PREFIX}" are reserved for luanet's own functions (luanet.reload), got ${describe(name)}`);
  if (typeof fn !== "function") throw new TypeError(`luanet.RegRPCFunction(name, fn): fn must be a function, got ${describe(fn)}`);
  if (self.reloads.stage(name, fn)) return;
  const handlers = self.dispatcher.handlers;
  const isNew = !handlers.has(name);
  handlers.set(name, fn);
  if (isNew) self.republish();
}

export interface CallOptions extends GroupOptions {
  /** Deadline in ms (default: luanet.Configure({ rpcTimeout }), 10 s). */
  timeout?: number;
}

/** How SendMsg to a group picks its member. */
export type SendOptions = Omit<GroupOptions, "idempotent">;

const NO_OPTIONS: CallOptions = Object.freeze({});

/** What a registry's failure to answer is to the caller: its RPCError, or `unavailable`. */
function registryError(registry: Registry, error: unknown): RPCError {
  return isInstance(error, RPCError) ? error : new RPCError("unavailable", `${registry.where} did not answer: ${String((error as Error)?.message ?? error)}`);
}

/** A question to `self`'s registry in the `[value, err]` shape. */
function* asked<T>(self: Service, question: () => Operation<T>): Generator<Instruction, RPCResult<T>, unknown> {
  try {
    return [yield* question(), null];
  } catch (error) {
    return [null, registryError(self.registry, error)];
  }
}

function checkName(value: unknown, where: string, what: string): asserts value is string {
  if (typeof value !== "string" || value.length === 0) throw new TypeError(`${where}: ${what} must be a non-empty string, got ${describe(value)}`);
}

function timeoutOf(self: Service, opts: CallOptions | undefined, where: string): number {
  const rpcTimeout = self.config.rpcTimeout;
  if (opts === undefined) return rpcTimeout;
  if (typeof opts !== "object" || opts === null) throw new TypeError(`${where}: opts must be an object, got ${describe(opts)}`);
  checkGroupOptions(opts, where);
  const t = opts.timeout ?? rpcTimeout;
  if (typeof t !== "number" || !(t > 0) || t === Infinity) throw new TypeError(`${where}: opts.timeout must be a positive number of ms, got ${describe(opts.timeout)}`);
  return t;
}

/**
 * Call `func` of the service or group `service`: `const [ret, err] = yield* luanet.RPCCall(...)`.
 * `err` is null on success, else an RPCError whose `code` is timeout, unavailable, disconnected,
 * no_such_function, remote_error, too_large, overloaded, shutting_down or bad_value. A service of
 * this process is called directly (no socket, no registry), with the same semantics. A group's
 * call goes to one member, picked by `opts.balance`, `opts.key` and `opts.prefer`, with failover
 * (group.ts).
 * @example const [sum, err] = yield* luanet.RPCCall<number>("PlusServer", "Plus", { a: 1, b: 2 })
 */
export function RPCCall<T = unknown>(self: Service, service: string, func: string, args?: unknown, opts?: CallOptions): Operation<RPCResult<T>> {
  const where = "luanet.RPCCall(service, func, args?, opts?)";
  checkName(service, where, "service");
  checkName(func, where, "func");
  const ms = timeoutOf(self, opts, where);
  const op = routed(self, service, func, args ?? null, ms, opts ?? NO_OPTIONS);
  // With an OpenTelemetry SDK registered the call is a client span (README, "Tracing").
  const tracing = self.runtime.tracing;
  return (tracing.active() ? tracedCall(tracing, service, func, op) : op) as Operation<RPCResult<T>>;
}

/** The call, by the road its target takes: a service of this process, a known peer, a known
 * group, or a name to look up first. */
function routed(self: Service, service: string, func: string, args: unknown, ms: number, opts: CallOptions): Operation<RPCResult> {
  const here = self.runtime.local(service);
  if (here !== undefined) return localCall(self, here, func, args, ms);
  const peer = self.peers.named(service);
  if (peer.conn !== null || peer.endpoint !== null) return call(peer, func, args, ms);
  const route = self.routes.known(service);
  if (route !== undefined) return groupCallOp(self, route, service, func, args, ms, opts);
  return callByName(self, peer, func, args, ms, opts);
}

/**
 * What a name is, asked of the registry: a service's (its endpoint is set on `peer`), a group's,
 * or neither (the RPCError to give).
 */
function* resolve(self: Service, peer: Peer, ms: number): Generator<Instruction, "service" | "group" | RPCError, unknown> {
  const started = performance.now();
  const registry = self.registry;
  try {
    const info = yield* lookingUp((left) => registry.lookup(peer.name, left), ms);
    if (info !== null) {
      peer.endpoint ??= { addr: info.addr, type: info.type };
      return "service";
    }
    const left = Math.max(1, ms - (performance.now() - started));
    const members = yield* membersOf(self, peer.name, left);
    if (members.length > 0) return "group";
    return new RPCError("unavailable", `no service named "${peer.name}" is registered, and no group of that name has members`);
  } catch (error) {
    return registryError(registry, error);
  }
}

/** A call to a name not yet known to be a service's or a group's. */
function* callByName(self: Service, peer: Peer, func: string, args: unknown, ms: number, opts: CallOptions): Generator<Instruction, RPCResult, unknown> {
  const started = performance.now();
  const what = yield* resolve(self, peer, ms);
  if (what instanceof RPCError) return [null, what];
  const left = Math.max(1, ms - (performance.now() - started));
  return what === "group" ? yield* groupCall(self, peer.name, func, args, ms, opts, left) : yield* call(peer, func, args, ms, left);
}

/**
 * Send a one-way message to `service`: `const err = yield* luanet.SendMsg(...)`. null means it was
 * handed to the connection (or, to a service of this process, to its mailbox); messages from one
 * sender to one receiver arrive in order. While the connection has more than `sendHighWater`
 * bytes queued (the receiver reads slower than we send), or the receiver's mailbox in this
 * process is full, the sending task waits; after `rpcTimeout` it gets a "timeout" error and the
 * message is not sent.
 */
export function SendMsg(self: Service, service: string, msg: unknown, opts?: SendOptions): Operation<RPCError | null> {
  const where = "luanet.SendMsg(service, msg, opts?)";
  checkName(service, where, "service");
  if (opts !== undefined) {
    if (typeof opts !== "object" || opts === null) throw new TypeError(`${where}: opts must be an object, got ${describe(opts)}`);
    checkGroupOptions(opts, where);
  }
  const here = self.runtime.local(service);
  if (here !== undefined) return localSend(self, here, msg);
  const peer = self.peers.named(service);
  const send = (peer: Peer, started: number) => sendOn(self, peer, msg, started);
  if (peer.conn !== null || peer.endpoint !== null) return send(peer, performance.now());
  if (self.routes.known(service) !== undefined) return groupSend(self, service, msg, opts ?? NO_OPTIONS, send);
  return (function* () {
    const started = performance.now();
    const what = yield* resolve(self, peer, self.config.rpcTimeout);
    if (what instanceof RPCError) return what;
    return what === "group" ? yield* groupSend(self, service, msg, opts ?? NO_OPTIONS, send) : yield* send(peer, started);
  })();
}

/** A message to `peer` (connecting if need be), the wait counted from `started`. */
function* sendOn(self: Service, peer: Peer, msg: unknown, started: number): Generator<Instruction, RPCError | null, unknown> {
  const service = peer.name;
  const config = self.config;
  const conn = yield* connected(peer, Math.max(1, config.rpcTimeout - (performance.now() - started)));
  if (conn instanceof RPCError) return conn;
  const body = frame([Type.MSG, msg], conn.link);
  if (body instanceof Unsendable) return body.error(`the message to ${service}`);
  if (conn.link.buffered > config.sendHighWater) {
    const left = Math.max(1, config.rpcTimeout - (performance.now() - started));
    if ((yield* awaitWithin(conn.link.drained(), left, `SendMsg(${service})`)) === TIMED_OUT) {
      return new RPCError("timeout", `${service} has not read what was already sent to it for ${config.rpcTimeout} ms (over ${config.sendHighWater} bytes queued); the message was not sent`);
    }
    if (conn.link.closed) return new RPCError("disconnected", `the connection to ${service} dropped while the message waited to be sent`);
  }
  conn.link.send(body);
  peer.counters.msgsOut++;
  return null;
}

/**
 * One message to every live member of `group`, all at once:
 * `const { sent, failed, err } = yield* luanet.Broadcast(group, msg)`. `sent` names the members
 * it was handed to, `failed` those it could not reach (`{ name, err }`); `err` is set when the
 * registry could not list the members.
 */
export function Broadcast(self: Service, group: string, msg: unknown): Operation<BroadcastResult> {
  checkName(group, "luanet.Broadcast(group, msg)", "group");
  return broadcast(self, group, (name) => {
    const here = self.runtime.local(name);
    return here !== undefined ? localSend(self, here, msg) : sendOn(self, self.peers.named(name), msg, performance.now());
  });
}

/**
 * The live members of `group`, by name: `const [names, err] = yield* luanet.GetGroupMembers(group)`
 * (an empty list if it has none; err unavailable or timeout when the registry cannot answer).
 */
export function GetGroupMembers(self: Service, group: string, opts?: CallOptions): Operation<RPCResult<string[]>> {
  const where = "luanet.GetGroupMembers(group, opts?)";
  checkName(group, where, "group");
  const ms = timeoutOf(self, opts, where);
  return asked(self, function* () {
    return (yield* membersOf(self, group, ms)).map((m) => m.name);
  });
}

function checkGroup(self: Service, group: string, where: string): void {
  const problem = badName(group);
  if (problem !== null) throw new TypeError(`${where}: group: ${problem}, got ${describe(group)}`);
  if (self.registered() === null) throw new TypeError(`${where}: call luanet.StartLocalService and luanet.Register2Name first: group membership is part of the registration`);
  if (group === self.name) throw new TypeError(`${where}: a service cannot join a group with its own name ${JSON.stringify(group)}: a service and a group cannot share a name`);
  if (self.stopping) throw new TypeError(`${where}: this service has stopped`);
}

/**
 * Join the current service to `group` (after Register2Name; callable at the top level):
 * `const err = yield* luanet.JoinGroup("Room")` once the registry holds it (err: name_taken if a
 * service has that name, timeout). Without `yield*` a failure is fatal, as for Register2Name.
 */
export function JoinGroup(self: Service, group: string): Operation<LuanetError | null> {
  checkGroup(self, group, "luanet.JoinGroup(group)");
  const joined = self.membership.join(group);
  if (!self.reloads.reloading) self.startup.push(joined); // a reload's body joins a group it is in: nothing starts
  return started(self, `joining the group ${group}`, joined, (_, error) => error);
}

/**
 * Take the current service out of `group`: callers stop choosing it once the registry holds the
 * change (their watches hear of it at once); calls already sent finish.
 * `const err = yield* luanet.LeaveGroup("Room")`; a failure nobody waits for is logged.
 */
export function LeaveGroup(self: Service, group: string): Operation<LuanetError | null> {
  checkGroup(self, group, "luanet.LeaveGroup(group)");
  const op = begun(self.membership.leave(group), (error) => self.log.warn(`luanet.LeaveGroup(${JSON.stringify(group)}) failed: ${error?.message ?? error}`));
  return {
    *[Symbol.iterator]() {
      try {
        yield* op;
        return null;
      } catch (error) {
        return isInstance(error, LuanetError) ? error : new LuanetError("unavailable", String((error as Error)?.message ?? error));
      }
    },
  };
}

/**
 * The live services that provide `func`, from the registry (the name service, or etcd's index):
 * `const [names, err] = yield* luanet.GetRemoteFuncProvider(func, { timeout? })`; err is an
 * RPCError (unavailable, timeout) when the registry cannot answer within the deadline.
 */
export function GetRemoteFuncProvider(self: Service, func: string, opts?: CallOptions): Operation<RPCResult<string[]>> {
  const where = "luanet.GetRemoteFuncProvider(func, opts?)";
  checkName(func, where, "func");
  const ms = timeoutOf(self, opts, where);
  return asked(self, () => lookingUp((left) => self.registry.providers(func, left), ms));
}

/**
 * Start another script as a service of this process: `const name = yield* luanet.NewService("room.ts", "7")`.
 * See Runtime.newService. Called without `yield*` it starts all the same; a failure is logged.
 */
export function NewService(self: Service, script: string, ...args: string[]): Operation<string | null> {
  const where = "luanet.NewService(script, ...args)";
  if (typeof script !== "string" || script === "") throw new TypeError(`${where}: script must be a path to a script, got ${describe(script)}`);
  for (const arg of args) if (typeof arg !== "string") throw new TypeError(`${where}: args must be strings (as on a command line), got ${describe(arg)}`);
  if (self.stopping) throw new TypeError(`${where}: this service has stopped`);
  return begun(self.runtime.newService(self, script, args), (error) => {
    self.log.error(`luanet.NewService(${JSON.stringify(script)}) failed: ${error?.message ?? error}`);
  });
}
