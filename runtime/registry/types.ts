/**
 * Where services find each other. Two implementations: the built-in name service
 * (nameservice.ts) and etcd (etcd.ts); select.ts picks one per service. They know the service
 * layer only through the interfaces below, which it implements.
 * @internal
 */
import { formatAddr, type NetAddr, type SocketType } from "../../stdlib/net.js";
import { ErrorCode, LuanetError, type RPCError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Instruction, Operation } from "../scheduler/instruction.js";
import type { Task } from "../scheduler/task.js";

/**
 * What a service publishes about itself: everything here is public (GetInfo, List, etcd's
 * values). What proves that a process holds its name is never in it (see validate.ts).
 */
export interface ServiceInfo {
  name: string;
  type: SocketType;
  addr: NetAddr;
  pid: number;
  host: string;
  /** Its RPC functions, by name. */
  funcs: string[];
  /** When it started (ms since the epoch). */
  started: number;
  /** The groups it is a member of (luanet.JoinGroup). A registration without the field (an
   * older or foreign client) is in none. */
  groups: string[];
}

/**
 * A registry as a service sees it. Every question is an operation with a deadline: it returns
 * the answer, or throws an RPCError: `timeout` (no answer within `timeoutMs`), `unavailable`
 * (cannot be reached), or RegistryAwayError (it answered before and is probably restarting: worth
 * asking again within the caller's deadline).
 */
export interface Registry {
  /** For messages: "the name service at 127.0.0.1:8010", "etcd at 127.0.0.1:2379,...". */
  readonly where: string;
  /** A live service's info, or null if no live service has that name. `now`: answer from what
   * the registry knows at once, even if it has just restarted and not all have registered again. */
  lookup(name: string, timeoutMs: number, now?: boolean): Operation<ServiceInfo | null>;
  /** Names of the live services that provide `func`. */
  providers(func: string, timeoutMs: number): Operation<string[]>;
  /** Every live service. */
  list(timeoutMs: number): Operation<ServiceInfo[]>;
  /**
   * The live members of `group` (sorted by name; empty if it has none). Asking starts a watch on
   * the group where the process can keep one, so later answers come from memory, kept current by
   * the registry's own news of joins, leaves and expiries (see `cachedMembers`).
   */
  members(group: string, timeoutMs: number): Operation<readonly ServiceInfo[]>;
  /** The members of `group` as the watch knows them now, or undefined: ask `members`. */
  cachedMembers(group: string): readonly ServiceInfo[] | undefined;
  /** A member of `group` could not be reached at the address given: the members this client
   * holds without a watch may be out of date (one restarted elsewhere): ask again next time. */
  unreachable(group: string): void;
  /**
   * Keep `self` registered from now on: retry while the registry is away, register again when a
   * registration is lost. `onFirst` is told the outcome of the first attempt that gets an answer
   * (registered, or refused with `name_taken`).
   */
  register(self: Registrant, onFirst: (error: LuanetError | null) => void): Registration;
}

/** A service that registers: implemented by the service layer. */
export interface Registrant {
  readonly name: string;
  /** What it publishes now (its current function list included). */
  info(): ServiceInfo;
  /** Secret, random per service: proves to the name service that a re-registration comes from
   * the holder of the name. Sent only in Register, never published. */
  readonly token: string;
  /** The deadline of its calls (luanet.Configure({ rpcTimeout })). */
  readonly rpcTimeout: number;
  readonly log: Logger;
  /** Start a task that belongs to the service (halted when it stops). */
  spawn(name: string, body: () => Generator<Instruction, void, unknown>): Task;
  /** The registry now holds `info` (each claim that succeeded): what JoinGroup and LeaveGroup wait for. */
  claimed(info: ServiceInfo): void;
}

/** A registration being kept. */
export interface Registration {
  /** The function list grew: publish it now. */
  republish(): void;
  /**
   * Leave for good (a drain): stop keeping the registration and remove it from the registry, so
   * the name resolves to nothing and the groups lose the member (their watchers hear of it at
   * once). Resolves once the registry confirms; rejects with an RPCError if it does not within
   * `timeoutMs` (the registration then ends as it would have anyway: with the connection, or
   * when the lease runs out).
   */
  leave(timeoutMs: number): Promise<void>;
}

/** The service layer, as a registry needs it: implemented by the service layer's Runtime. */
export interface RegistryHost {
  /** Calls to the name service at `addr` over `self`'s own connection to it (one registration
   * per connection). `self` null: a connection of the process that registers nothing. */
  nameService(addr: NetAddr, self: Registrant | null): NameServiceLink;
  /** The registry says `name` is gone (its registration ended): close connections to it now. */
  nameGone(name: string, why: string): void;
  /** True while a service of this process listens (a watch then stays for its life). */
  hasServices(): boolean;
}

/** Calls to one name service, over one connection. */
export interface NameServiceLink {
  call(func: string, args: unknown, timeoutMs: number): Operation<[unknown, null] | [null, RPCError]>;
  /** The open connection (opaque: compared by identity), or null. */
  connection(): object | null;
  /** Send a heartbeat on the open connection, if one is. */
  heartbeat(): void;
  /** Call `fn` whenever the connection closes. */
  onLost(fn: () => void): void;
  /** Close the open connection, if one is (the next call opens another). */
  close(why: string): void;
}

/** Most registrations in one page of the name service's List({ after, limit }): 100 of at most
 * 64 KiB (validate.ts) fit a frame. */
export const LIST_PAGE = 100;

/** The error both registries give when a service would take a group's name. */
export function nameIsGroup(name: string): LuanetError {
  return new LuanetError(ErrorCode.name_taken, `the name "${name}" is a group's (services have joined it with luanet.JoinGroup); a service and a group cannot share a name`);
}

/** The error both registries give when another live process holds the name. */
export function nameTaken(holder: ServiceInfo): LuanetError {
  const since = new Date(holder.started).toISOString();
  return new LuanetError(ErrorCode.name_taken, `the name "${holder.name}" is held by pid ${holder.pid} on ${holder.host} at ${formatAddr(holder.addr)} (since ${since})`);
}
