/**
 * The `luanet` object: the global a script uses to reach the runtime. It acts for the service of
 * the task that is running (runtime.ts `current`), so every script started with
 * `luanet.NewService` sees its own service through the same global.
 */
import type { Logger } from "./log.js";
import { log } from "./log.js";
import { version } from "./package-info.js";
import {
  Broadcast, GetGroupMembers, GetRemoteFuncProvider, JoinGroup, LeaveGroup, NewService, RegRPCFunction, Register2Name, RPCCall, SendMsg, StartLocalService,
  type BroadcastResult, type CallOptions, type Result, type SendOptions,
} from "./service/api.js";
import { configure, type Config } from "./service/config.js";
import type { Handler } from "./service/dispatch.js";
import type { Instance } from "./service/instance.js";
import type { Message } from "./service/mailbox.js";
import type { DisconnectHandler } from "./service/presence.js";
import type { Runtime } from "./service/runtime.js";
import type { RPCResult } from "./service/sessions.js";
import { clientOf, type Client, type Implementation } from "./service/typed.js";
import type { LuanetError, RPCError } from "./errors.js";
import type { Operation } from "./scheduler/instruction.js";
import type { NetAddr, SocketType } from "../stdlib/net.js";
import { describe } from "./errors.js";
import { shutdown, stopping } from "./lifecycle.js";
import {
  ChannelOf, Kick, OnSessionEnd, Push, RegClientFunction, SessionSet, StartGate,
  type Channel, type GateAddresses, type GateOptions, type PushOptions, type SessionEndHandler,
} from "./gate/api.js";

export interface Luanet {
  /** This luanet's version. */
  readonly version: string;
  /** The current service's script (absolute path), or null when luanet is used as a library. */
  readonly script: string | null;
  /** The current service's arguments: after the script's name on the command line, or given to NewService. */
  readonly args: readonly string[];
  /** The current service's name (StartLocalService), or null. */
  readonly name: string | null;
  /** Who the current service is when `luanet up` started it from a cluster file:
   * `{ name: "Room-2", index: 2, group: "Room" }`; null when started by hand. */
  readonly instance: Instance | null;
  /** True once the current service has begun to stop (StopService) or to drain, or the whole
   * process to drain (SIGINT, SIGTERM) or shut down (luanet.Exit, nothing left to run). */
  readonly stopping: boolean;
  /** True while the current service's script is being hot reloaded (`luanet reload`): its
   * module body runs again, so `if (!luanet.reloading) Sche.Spawn(loop)` starts a loop once. */
  readonly reloading: boolean;
  /** The logger of the current service: `luanet.log.info("listening", { port })`. */
  readonly log: Logger;
  /**
   * Name the current script's service and listen on `addr` (port 0: any free port):
   * `const [addr, err] = yield* luanet.StartLocalService(...)` (err: address_in_use, listen_failed).
   * Without `yield*`, a failure is fatal (to the process for its own script, else to the service).
   * @example luanet.StartLocalService("PlusServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 8012))
   */
  StartLocalService(name: string, type: SocketType, addr: NetAddr, onDisconnected?: DisconnectHandler): Operation<Result<NetAddr>>;
  /**
   * Register the current service with the name service (a net address, "127.0.0.1:8010") or etcd
   * ("etcd://host:port"), and keep it registered: `const err = yield* luanet.Register2Name(...)`
   * (err: name_taken, bad_request, or the listener's own).
   */
  Register2Name(nameaddr: NetAddr | string): Operation<LuanetError | null>;
  /**
   * Offer `fn(args, ctx)` as the RPC function `name`: a plain function's return value is the
   * result; a generator function runs in a task of its own; a thrown error is the caller's
   * remote_error (a LuanetError keeps its code).
   * @example luanet.RegRPCFunction("Plus", ({ a, b }) => a + b)
   */
  RegRPCFunction(name: string, fn: Handler): void;
  /**
   * Offer every function of the contract `C` at once, with its types checked against `C`.
   * @example luanet.RegRPCFunctions<Room>({ Join: ({ player }) => ({ seat: 1 }), Say: ({ text }) => {} })
   */
  RegRPCFunctions<C>(impl: Implementation<C>): void;
  /**
   * Typed calls to `service` under the contract `C`: `const [r, err] = yield* luanet.Client<Room>("Room").Join({ player })`.
   * Each method is luanet.RPCCall(service, name, args, opts), with the types of `C`.
   */
  Client<C>(service: string): Client<C>;
  /**
   * Call `func` of the service or group `service`: `const [ret, err] = yield* luanet.RPCCall(...)`;
   * err is null, or an RPCError with a code (README, "Error codes"). To a group, one member is
   * picked by `opts.balance` ("least-pending", "round-robin", "random"), `opts.key` and
   * `opts.prefer`; `opts.idempotent` lets a call that was sent be retried on another member.
   * @example const [sum, err] = yield* luanet.RPCCall<number>("PlusServer", "Plus", { a: 1, b: 2 })
   */
  RPCCall<T = unknown>(service: string, func: string, args?: unknown, opts?: CallOptions): Operation<RPCResult<T>>;
  /** A one-way message: `const err = yield* luanet.SendMsg(service, msg)`; in order per sender
   * and receiver; waits (up to rpcTimeout) while the receiver is not reading. To a group: one
   * member, picked as for RPCCall by `opts`. */
  SendMsg(service: string, msg: unknown, opts?: SendOptions): Operation<RPCError | null>;
  /** One message to every live member of `group`: `const { sent, failed, err } = yield* luanet.Broadcast(group, msg)`. */
  Broadcast(group: string, msg: unknown): Operation<BroadcastResult>;
  /** Put the current service in `group` (after Register2Name): `const err = yield* luanet.JoinGroup("Room")`
   * (err: name_taken if a service has that name). Without `yield*` a failure is fatal. */
  JoinGroup(group: string): Operation<LuanetError | null>;
  /** Take the current service out of `group`; calls already sent to it finish. */
  LeaveGroup(group: string): Operation<LuanetError | null>;
  /** The live members of `group`: `const [names, err] = yield* luanet.GetGroupMembers("Room")`. */
  GetGroupMembers(group: string, opts?: CallOptions): Operation<RPCResult<string[]>>;
  /** `const { from, msg } = yield* luanet.GetMsg()`: the next message; waits while there is none. */
  GetMsg<T = unknown>(): Operation<Message<T>>;
  /** The live services that provide `func`: `const [names, err] = yield* luanet.GetRemoteFuncProvider(func)`. */
  GetRemoteFuncProvider(func: string, opts?: CallOptions): Operation<RPCResult<string[]>>;
  /** Start `script` (relative to this script's folder) as another service of this process, in a
   * root task of its own with `args` as its luanet.args: `yield*` it for its service's name. */
  NewService(script: string, ...args: string[]): Operation<string | null>;
  /** Stop the current service only: its handlers, tasks, listener and registration end; the
   * process carries on. The calling task is halted at its next `yield*`. */
  StopService(): void;
  /** End the process gracefully: halt every task (their `finally` blocks run), flush and close
   * every connection and listener, then exit with `code`. Unlike `process.exit`, nothing
   * already sent is lost. */
  Exit(code?: number): void;
  /**
   * State that outlives a hot reload: the value kept under `key` for the current service, made by
   * `init()` the first time (two services of one script have their own). The old code and the
   * code a reload loads get the same object.
   * @example const stats = luanet.State("stats", () => ({ calls: 0 }))
   */
  State<T>(key: string, init: () => T): T;
  /** Change the current service's limits and defaults: `luanet.Configure({ rpcTimeout: 2000 })`. */
  Configure(changes: Partial<Config>): Config;
  /**
   * Let players connect to the current service (after StartLocalService): WebSocket and/or TCP,
   * sessions, auth, routes to client functions: `const [addrs, err] = yield* luanet.StartGate(...)`.
   * @example luanet.StartGate({ ws: "127.0.0.1:3010", auth: "Login.Verify" })
   */
  StartGate(options: GateOptions): Operation<Result<GateAddresses>>;
  /** RegRPCFunction, and clients may call it too (route "Service.name"), with `ctx.session` set. */
  RegClientFunction(name: string, fn: Handler): void;
  /** Send `msg` to one client: `const err = yield* luanet.Push(ctx.session.id, { hp: 3 })`. */
  Push(sessionId: string, msg: unknown, opts?: PushOptions): Operation<RPCError | null>;
  /** End a client's session, telling it why: `yield* luanet.Kick(sessionId, "banned")`. */
  Kick(sessionId: string, reason: string): Operation<RPCError | null>;
  /** A set of sessions on any gates, to broadcast to: `yield* luanet.Channel("room7").add(ctx.session.id)`. */
  Channel(name: string): Channel;
  /** The data bound to sessions at their gates: `yield* luanet.Session.set(id, "room", 7)`. */
  readonly Session: { set(sessionId: string, key: string, value: unknown): Operation<RPCError | null> };
  /** `fn({ id, uid, gate, reason })` whenever a session of the cluster ends (close, kick, timeout, its gate lost). */
  OnSessionEnd(fn: SessionEndHandler): void;
}

/** The `luanet` object for `runtime`: every member resolves the current service when used. */
export function luanetFor(runtime: Runtime): Luanet {
  const self = (what: string) => runtime.current(`luanet.${what}`);
  return {
    version,
    get script() {
      return runtime.currentOrNull()?.script ?? runtime.root.script;
    },
    get args() {
      return runtime.currentOrNull()?.args ?? runtime.root.args;
    },
    get name() {
      return runtime.currentOrNull()?.named ?? null;
    },
    get instance() {
      return runtime.currentOrNull()?.instance ?? runtime.root.instance;
    },
    get stopping() {
      return runtime.currentOrNull()?.stopping ?? stopping();
    },
    get reloading() {
      return runtime.currentOrNull()?.reloads.reloading ?? false;
    },
    get log() {
      return runtime.currentOrNull()?.log ?? log;
    },
    StartLocalService: (name, type, addr, onDisconnected) => StartLocalService(self("StartLocalService"), name, type, addr, onDisconnected),
    Register2Name: (nameaddr) => Register2Name(self("Register2Name"), nameaddr),
    RegRPCFunction: (name, fn) => RegRPCFunction(self("RegRPCFunction"), name, fn),
    RegRPCFunctions: (impl) => {
      if (typeof impl !== "object" || impl === null) throw new TypeError(`luanet.RegRPCFunctions(impl): impl must be an object of functions, got ${describe(impl)}`);
      const service = self("RegRPCFunctions");
      const entries = Object.entries(impl);
      for (const [name, fn] of entries) {
        if (typeof fn !== "function") throw new TypeError(`luanet.RegRPCFunctions(impl): impl.${name} must be a function, got ${describe(fn)}`);
      }
      for (const [name, fn] of entries) RegRPCFunction(service, name, fn as Handler);
    },
    Client: (service) => clientOf(service, (to, func, args, opts) => RPCCall(self("RPCCall"), to, func, args, opts)),
    RPCCall: (service, func, args, opts) => RPCCall(self("RPCCall"), service, func, args, opts),
    SendMsg: (service, msg, opts) => SendMsg(self("SendMsg"), service, msg, opts),
    Broadcast: (group, msg) => Broadcast(self("Broadcast"), group, msg),
    JoinGroup: (group) => JoinGroup(self("JoinGroup"), group),
    LeaveGroup: (group) => LeaveGroup(self("LeaveGroup"), group),
    GetGroupMembers: (group, opts) => GetGroupMembers(self("GetGroupMembers"), group, opts),
    GetMsg: <T>() => self("GetMsg").mailbox.getMsg as Operation<Message<T>>,
    GetRemoteFuncProvider: (func, opts) => GetRemoteFuncProvider(self("GetRemoteFuncProvider"), func, opts),
    NewService: (script, ...args) => NewService(self("NewService"), script, ...args),
    StopService: () => {
      const service = self("StopService");
      void runtime.stopService(service, "luanet.StopService()");
    },
    Exit: (code = 0) => {
      if (!Number.isInteger(code) || code < 0 || code > 255) throw new TypeError(`luanet.Exit(code): code must be an integer from 0 to 255, got ${describe(code)}`);
      shutdown(code);
    },
    State: (key, init) => self("State").state.get(key, init),
    Configure: (changes) => configure(self("Configure").config, changes),
    StartGate: (options) => StartGate(self("StartGate"), options),
    RegClientFunction: (name, fn) => RegClientFunction(self("RegClientFunction"), name, fn),
    Push: (sessionId, msg, opts) => Push(self("Push"), sessionId, msg, opts),
    Kick: (sessionId, reason) => Kick(self("Kick"), sessionId, reason),
    Channel: (name) => ChannelOf(self("Channel"), name),
    Session: Object.freeze({ set: (sessionId: string, key: string, value: unknown) => SessionSet(self("Session.set"), sessionId, key, value) }),
    OnSessionEnd: (fn) => OnSessionEnd(self("OnSessionEnd"), fn),
  };
}
