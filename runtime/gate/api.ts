/**
 * The players' half of the `luanet` object (luanet.ts binds each to the current service): start a
 * gate, allow-list functions for clients, and reach a client from any service by its session id
 * (Push, Kick, Session.set, channels), or hear of sessions ending. Every one of these but
 * StartGate and RegClientFunction talks to the gate that holds the session, by the gate's
 * name in the id, so it works the same from any process of the cluster. Wrong arguments are a
 * TypeError at once; what the network does is a value (`err`).
 */
import { describe, type RPCError } from "../errors.js";
import { badName } from "../names.js";
import type { Instruction, Operation } from "../scheduler/instruction.js";
import { GetGroupMembers, RegRPCFunction, RPCCall, started, type Result } from "../service/api.js";
import type { Handler } from "../service/dispatch.js";
import type { Service } from "../service/service.js";
import type { GateAddresses } from "./gate.js";
import { GATE_FUNCTIONS, GATES_GROUP } from "./names.js";
import { gateSettings, type GateOptions } from "./options.js";
import { gateOf } from "./session.js";
import { SessionWatch, type SessionEndHandler } from "./watch.js";

export type { GateAddresses } from "./gate.js";
export type { GateOptions, RouteOptions } from "./options.js";
export type { ClientSession } from "./session.js";
export type { SessionEnd, SessionEndHandler } from "./watch.js";

/** What a channel's broadcast reached: clients queued to, gates that failed (and why). */
export interface ChannelBroadcast {
  sent: number;
  failed: { gate: string; err: RPCError }[];
  /** Set when the gates could not be listed. */
  err: RPCError | null;
}

/** A named set of sessions on any gates: `luanet.Channel("room7")`. */
export interface Channel {
  readonly name: string;
  /** Put a session in the channel: `const err = yield* ch.add(ctx.session.id)`. */
  add(sessionId: string): Operation<RPCError | null>;
  remove(sessionId: string): Operation<RPCError | null>;
  /** One PUSH to every member, one frame per gate (route: the channel's name unless given). */
  broadcast(msg: unknown, opts?: { route?: string }): Operation<ChannelBroadcast>;
}

export interface PushOptions {
  /** The route the client's "message" event gets (default "push"). */
  route?: string;
  /** Deadline of the gate's answer (default rpcTimeout). */
  timeout?: number;
}

/**
 * Start a gate in the current service (after StartLocalService): clients connect on `options.ws`
 * and/or `options.tcp`; `const [addrs, err] = yield* luanet.StartGate(...)` gives the bound
 * addresses (port 0: any). The gate joins the group `luanet.gates` once the service registers.
 */
export function StartGate(self: Service, options: GateOptions): Operation<Result<GateAddresses>> {
  const where = "luanet.StartGate(options)";
  const settings = gateSettings(options);
  if (self.listening === null) throw new TypeError(`${where}: call luanet.StartLocalService first: a gate is part of a service (registered, balanced and supervised like one)`);
  if (self.gate !== null) throw new TypeError(`${where}: ${self.name} runs a gate already`);
  if (self.stopping) throw new TypeError(`${where}: this service has stopped`);
  const listening = self.listening;
  // The gate's code (and ws, node:http) loads here, not with every script.
  const work = (self.gate = import("./gate.js").then(async ({ Gate }) => {
    await listening;
    return new Gate(self, settings);
  })).then((gate) => gate.start());
  self.startup.push(work);
  return started(self, `starting the gate of ${self.name}`, work, (value, error) => (error === null ? [value!, null] : [null, error]) as Result<GateAddresses>);
}

/** Offer `fn` as an RPC function that clients may also call through a gate (with ctx.session). */
export function RegClientFunction(self: Service, name: string, fn: Handler): void {
  RegRPCFunction(self, name, fn);
  self.dispatcher.clientFunctions.add(name);
}

function gateIn(sessionId: unknown, where: string): string {
  const gate = typeof sessionId === "string" ? gateOf(sessionId) : null;
  if (gate === null) throw new TypeError(`${where}: sessionId must be a session's id ("<random>.<n>@<gate>", ctx.session.id), got ${describe(sessionId)}`);
  return gate;
}

function timeoutOf(opts: { timeout?: number } | undefined, where: string): { timeout?: number } {
  if (opts?.timeout === undefined) return {};
  if (typeof opts.timeout !== "number" || !(opts.timeout > 0)) throw new TypeError(`${where}: opts.timeout must be a positive number of ms, got ${describe(opts.timeout)}`);
  return { timeout: opts.timeout };
}

function route(value: unknown, fallback: string, where: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || badName(value) !== null) throw new TypeError(`${where}: opts.route must be a name (text), got ${describe(value)}`);
  return value;
}

/** Ask the gate `gate` to do `func`; the error alone (null: done). */
function* atGate(self: Service, gate: string, func: string, args: unknown, opts: { timeout?: number } = {}): Generator<Instruction, RPCError | null, unknown> {
  const [, err] = yield* RPCCall(self, gate, func, args, opts);
  return err;
}

/** `const err = yield* luanet.Push(sessionId, msg)`: err `no_such_session` once it has ended. */
export function Push(self: Service, sessionId: string, msg: unknown, opts?: PushOptions): Operation<RPCError | null> {
  const where = "luanet.Push(sessionId, msg, opts?)";
  const gate = gateIn(sessionId, where);
  return atGate(self, gate, GATE_FUNCTIONS.push, { s: sessionId, r: route(opts?.route, "push", where), m: msg }, timeoutOf(opts, where));
}

/** `const err = yield* luanet.Kick(sessionId, reason)`: the client is told `reason` and closed. */
export function Kick(self: Service, sessionId: string, reason: string): Operation<RPCError | null> {
  const where = "luanet.Kick(sessionId, reason)";
  const gate = gateIn(sessionId, where);
  if (typeof reason !== "string") throw new TypeError(`${where}: reason must be text, got ${describe(reason)}`);
  return atGate(self, gate, GATE_FUNCTIONS.kick, { s: sessionId, why: reason });
}

/** `const err = yield* luanet.Session.set(sessionId, key, value)`: later calls carry it in ctx.session.data. */
export function SessionSet(self: Service, sessionId: string, key: string, value: unknown): Operation<RPCError | null> {
  const where = "luanet.Session.set(sessionId, key, value)";
  const gate = gateIn(sessionId, where);
  if (typeof key !== "string" || badName(key) !== null || key === "uid") throw new TypeError(`${where}: key must be a name other than "uid", got ${describe(key)}`);
  return atGate(self, gate, GATE_FUNCTIONS.set, { s: sessionId, k: key, v: value });
}

export function ChannelOf(self: Service, name: string): Channel {
  const where = "luanet.Channel(name)";
  if (typeof name !== "string" || badName(name) !== null) throw new TypeError(`${where}: name must be a name (text), got ${describe(name)}`);
  const member = (op: "add" | "remove") => (sessionId: string): Operation<RPCError | null> =>
    atGate(self, gateIn(sessionId, `channel.${op}(sessionId)`), GATE_FUNCTIONS.channel, { op, c: name, s: sessionId });
  return Object.freeze({
    name,
    add: member("add"),
    remove: member("remove"),
    broadcast(msg: unknown, opts?: { route?: string }): Operation<ChannelBroadcast> {
      const r = route(opts?.route, name, "channel.broadcast(msg, opts?)");
      return (function* () {
        const [gates, err] = yield* GetGroupMembers(self, GATES_GROUP);
        const out: ChannelBroadcast = { sent: 0, failed: [], err };
        const tasks = (gates ?? []).map((gate) => self.spawn(`broadcast ${name} to ${gate}`, function* () {
          const [n, e] = yield* RPCCall(self, gate, GATE_FUNCTIONS.broadcast, { c: name, r, m: msg });
          if (e !== null) out.failed.push({ gate, err: e });
          else out.sent += typeof n === "number" ? n : 0;
        }));
        for (const task of tasks) yield* task;
        return out;
      })();
    },
  });
}

/** Call `fn({ id, uid, gate, reason })` when any session of the cluster ends (after Register2Name
 * it joins the watchers' group). */
export function OnSessionEnd(self: Service, fn: SessionEndHandler): void {
  if (typeof fn !== "function") throw new TypeError(`luanet.OnSessionEnd(fn): fn must be a function, got ${describe(fn)}`);
  (self.sessionWatch ??= new SessionWatch(self)).subscribe(fn);
}
