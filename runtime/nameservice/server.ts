/**
 * The name service (`luanet nameservice`): an ordinary luanet service named "nameservice" whose
 * RPC functions keep the table of live services. A registration lives while the connection it
 * came on is up and heartbeats arrive on it; it answers on the incoming connection, so services
 * need no listener of their own to use it.
 *
 *   Register(info)          -> null          claim info.name (ServiceInfo); "name_taken" if a
 *                                            live process of another instance holds it
 *   GetInfo({ name })       -> info | null
 *   GetRemoteFunc({ func }) -> [name, ...]   live services that provide func
 *   List(null)              -> [info, ...]
 * @internal
 */
import { formatAddr, isNetAddr, SOCK_STREAM, type NetAddr } from "../../stdlib/net.js";
import { LuanetError } from "../errors.js";
import { log } from "../log.js";
import { nameTaken, type ServiceInfo } from "../registry/types.js";
import { Sleep } from "../scheduler/sleep.js";
import { RegRPCFunction, StartLocalService } from "../service/api.js";
import { onConnClosed, type Conn } from "../service/conn.js";
import type { CallContext } from "../service/dispatch.js";

/** A registration is dropped after this long without a frame (heartbeats come every second). */
export const EXPIRY_MS = Number(process.env.LUANET_NS_EXPIRY_MS ?? 10_000);

interface Registration {
  info: ServiceInfo;
  conn: Conn;
}

export function* nameService(addr: NetAddr) {
  const table = new Map<string, Registration>();

  RegRPCFunction("Register", (info: ServiceInfo, ctx: CallContext) => {
    checkInfo(info);
    const held = table.get(info.name);
    if (held !== undefined && held.conn !== ctx.conn && held.info.instance !== info.instance && !held.conn.link.closed) {
      throw nameTaken(held.info);
    }
    if (held === undefined || held.info.instance !== info.instance) log.info(`registered ${info.name} at ${formatAddr(info.addr)} (pid ${info.pid})`);
    table.set(info.name, { info, conn: ctx.conn });
    return null;
  });
  RegRPCFunction("GetInfo", ({ name }: { name: string }) => table.get(name)?.info ?? null);
  RegRPCFunction("GetRemoteFunc", ({ func }: { func: string }) =>
    [...table.values()].filter((r) => r.info.funcs.includes(func)).map((r) => r.info.name));
  RegRPCFunction("List", () => [...table.values()].map((r) => r.info));

  onConnClosed((conn) => {
    for (const [name, reg] of table) {
      if (reg.conn === conn) {
        table.delete(name);
        log.info(`unregistered ${name}: its connection closed`);
      }
    }
  });

  yield* StartLocalService("nameservice", SOCK_STREAM, addr);

  for (;;) {
    yield* Sleep(1000);
    const now = performance.now();
    for (const reg of table.values()) {
      if (now - reg.conn.lastSeen > EXPIRY_MS) reg.conn.link.close(new Error(`no heartbeat from ${reg.info.name} for ${EXPIRY_MS} ms`));
    }
  }
}

function checkInfo(info: ServiceInfo): void {
  const ok = typeof info === "object" && info !== null && typeof info.name === "string" && info.name.length > 0 &&
    isNetAddr(info.addr) && Array.isArray(info.funcs) && info.funcs.every((f) => typeof f === "string") &&
    typeof info.pid === "number" && typeof info.instance === "string";
  if (!ok) throw new LuanetError("bad_request", "Register(info): info must be { name, type, addr, pid, host, funcs, started, instance }");
}
