/**
 * Where services find each other. Two implementations: the built-in name service
 * (nameservice.ts) and etcd (etcd.ts); select.ts picks one per process.
 * @internal
 */
import { formatAddr, type NetAddr, type SocketType } from "../../stdlib/net.js";
import { ErrorCode, LuanetError } from "../errors.js";

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
}

export interface Registry {
  /** For messages: "the name service at 127.0.0.1:8010", "etcd at 127.0.0.1:2379,...". */
  readonly where: string;
  /**
   * A live service's info, or null if no live service has that name. Rejects with an RPCError
   * "unavailable" when the registry cannot be reached within a bounded wait.
   */
  lookup(name: string): Promise<ServiceInfo | null>;
  /** Names of the live services that provide `func`, asked within `timeoutMs` where the
   * registry takes a deadline per question (the name service; default rpcTimeout). */
  providers(func: string, timeoutMs?: number): Promise<string[]>;
  /** Every live service. */
  list(): Promise<ServiceInfo[]>;
  /**
   * Keep this process's service registered from now on: retry while the registry is away,
   * register again when a registration is lost. `funcs` gives the current function list;
   * `onFirst` is told the outcome of the first attempt that gets an answer (registered, or
   * refused with `name_taken`).
   */
  register(funcs: () => string[], onFirst: (error: LuanetError | null) => void): void;
  /** A function was registered after registration: publish the new list. */
  republish(): void;
}

/** Most registrations in one page of the name service's List({ after, limit }): 100 of at most
 * 64 KiB (validate.ts) fit a frame. */
export const LIST_PAGE = 100;

/** The error both registries give when another live process holds the name. */
export function nameTaken(holder: ServiceInfo): LuanetError {
  const since = new Date(holder.started).toISOString();
  return new LuanetError(ErrorCode.name_taken, `the name "${holder.name}" is held by pid ${holder.pid} on ${holder.host} at ${formatAddr(holder.addr)} (since ${since})`);
}
