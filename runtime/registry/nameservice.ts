/**
 * The registry backed by luanet's built-in name service, and the registrar task that keeps this
 * process registered: it retries with backoff while the name service is away (one log line, not
 * one per try), re-registers when it comes back, republishes functions registered later, and
 * sends a heartbeat every second. Register carries `local.token`, the secret that lets this
 * process, and only it, register its name again; if the name was taken while this process was
 * away, it keeps claiming it back every RECLAIM_MS.
 * @internal
 */
import { formatAddr, parseAddr, type NetAddr } from "../../stdlib/net.js";
import { LuanetError, RegistryAwayError, RPCError } from "../errors.js";
import { log } from "../log.js";
import { spawnNamed } from "../scheduler/spawn.js";
import type { Task } from "../scheduler/task.js";
import { Block, WakeUp } from "../scheduler/block.js";
import { Sleep } from "../scheduler/sleep.js";
import { call } from "../service/call.js";
import { config } from "../service/config.js";
import { local } from "../service/local.js";
import { onConnClosed } from "../service/conn.js";
import { peerFixed, type Peer } from "../service/peers.js";
import { encode, Type } from "../wire/envelope.js";
import { CheckedSelf } from "./self.js";
import { LIST_PAGE, type Registry, type ServiceInfo } from "./types.js";

export const DEFAULT_NAMESERVICE = "127.0.0.1:8010";
const HEARTBEAT_MS = 1000;
/** The longest wait between tries to register while the name service is away. */
const MAX_RETRY_MS = 250;
/** How often a holder whose name another process took tries to claim it back. */
const RECLAIM_MS = 2000;

let nsAddr: NetAddr = parseAddr(process.env.LUANET_NS ?? DEFAULT_NAMESERVICE);
let nsPeer: Peer | null = null;
/** The name service has answered this process: if it stops answering, it is probably restarting. */
let answered = false;

/** Use the name service at `addr` from now on. */
export function useNameService(addr: NetAddr): void {
  if (nsPeer !== null && formatAddr(addr) === formatAddr(nsAddr)) return;
  nsAddr = addr;
  nsPeer = null;
  answered = false;
}

export function nameServicePeer(): Peer {
  return (nsPeer ??= peerFixed("nameservice", nsAddr));
}

/** Call the name service from outside any task. Unreachable, it fails "unavailable": at once if
 * it never answered this process, else as RegistryAwayError, which look-ups try again. */
function ask<T>(func: string, args: unknown, timeoutMs = config.rpcTimeout): Promise<T> {
  return new Promise((resolve, reject) => {
    spawnNamed(`nameservice ${func}`, function* () {
      const [ret, err] = yield* call(nameServicePeer(), func, args, timeoutMs);
      if (err === null) {
        answered = true;
        return resolve(ret as T);
      }
      // Connected but silent past the deadline: a timeout, as for any call. Refused or dropped: away.
      if (err.code !== "disconnected" && err.code !== "unavailable") return reject(err);
      const message = `the name service at ${formatAddr(nsAddr)} did not answer: ${err.message}`;
      reject(answered ? new RegistryAwayError(message) : new RPCError("unavailable", message));
    });
  });
}

export const nameServiceRegistry: Registry = {
  get where() {
    return `the name service at ${formatAddr(nsAddr)}`;
  },
  lookup: (name) => ask<ServiceInfo | null>("GetInfo", { name }),
  providers: (func, timeoutMs) => ask<string[]>("GetRemoteFunc", { func }, timeoutMs),
  list: async () => {
    // Page by page, so the answer fits a frame however many services there are.
    const all: ServiceInfo[] = [];
    for (let after = ""; ;) {
      const page = await ask<ServiceInfo[]>("List", { after, limit: LIST_PAGE });
      if (!Array.isArray(page) || page.length > LIST_PAGE) return page; // it does not page: that is all
      all.push(...page);
      const last = page.at(-1)?.name;
      // A short page is the last; a page that does not move on (a buggy name service) ends it too.
      if (page.length < LIST_PAGE || typeof last !== "string" || last <= after) return all;
      after = last;
    }
  },
  register: (funcs, onFirst) => startRegistrar(funcs, onFirst),
  republish: () => republishFunctions(),
};

// --- the registrar -------------------------------------------------------------------------

let registrar: Task | null = null;
let republish = false;

/** Keep this service registered (Registry.register). */
function startRegistrar(funcs: () => string[], onFirst: (error: LuanetError | null) => void): void {
  if (registrar !== null) return;
  let first = true;
  const settleFirst = (error: LuanetError | null) => {
    if (first) onFirst(error);
    first = false;
  };
  registrar = spawnNamed("registrar", function* () {
    const self = new CheckedSelf();
    let delay = 100;
    let complained = false;
    let refused = false;
    for (;;) {
      const peer = nameServicePeer();
      const info = self.next(funcs());
      if (info instanceof LuanetError) return settleFirst(info);
      const [, err] = yield* call(peer, "Register", { ...info, token: local.token }, config.rpcTimeout);
      if (err !== null && (err.code === "name_taken" || err.code === "bad_request")) {
        if (first) return settleFirst(err);
        // Someone took the name while we were away (a name service restart): it is ours again
        // once they leave.
        if (!refused) log.error(`${local.name} lost its name at the name service at ${formatAddr(nsAddr)} (${err.message}); trying again every ${RECLAIM_MS} ms`);
        refused = true;
        yield* Sleep(RECLAIM_MS);
        continue;
      }
      if (err !== null) {
        if (!complained) log.warn(`cannot register ${local.name} with the name service at ${formatAddr(nsAddr)} (${err.message}); retrying until it answers`);
        complained = true;
        // Soon after it is back: look-ups wait for registrations only briefly (RECOVERY_MS).
        yield* Sleep(delay * (0.5 + Math.random() / 2));
        delay = Math.min(delay * 2, MAX_RETRY_MS);
        continue;
      }
      log.info(`${local.name} registered with the name service at ${formatAddr(nsAddr)}${first ? "" : " again"}`);
      answered = true;
      settleFirst(null);
      complained = refused = false;
      delay = 100;
      republish = false;
      const conn = peer.conn;
      while (peer.conn === conn && conn !== null && !republish) {
        conn.link.send(encode([Type.PING]));
        yield* Block(HEARTBEAT_MS);
      }
    }
  });
}

/** A function was registered after registration: publish the new list now. */
function republishFunctions(): void {
  republish = true;
  if (registrar !== null) WakeUp(registrar);
}

/** The name service connection dropped: re-register at once rather than at the next heartbeat. */
export function nameServiceLost(): void {
  if (registrar !== null) WakeUp(registrar);
}

onConnClosed((conn) => {
  if (conn.peer !== null && conn.peer === nsPeer) nameServiceLost();
});
