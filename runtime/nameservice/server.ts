/**
 * The name service (`luanet nameservice`): an ordinary luanet service named "nameservice" whose
 * RPC functions keep the table of live services. A registration lives while the connection it
 * came on is up and heartbeats arrive on it; it answers on the incoming connection, so services
 * need no listener of their own to use it.
 *
 *   Register({ ...info, token }) -> null       claim info.name; "name_taken" if another live
 *                                               holder (another token) has it, "bad_request"
 *                                               naming the field that is wrong
 *   Unregister(null)        -> null            drop the registration this connection holds
 *                                               (none: nothing to do); the connection stays open
 *   GetInfo({ name, now? }) -> info | null       (now: true: no recovery-window wait)
 *   GetRemoteFunc({ func }) -> [name, ...]      live services that provide func
 *   List(null)              -> [info, ...]      every registration
 *   List({ after, limit })  -> [info, ...]      a page in name order (at most LIST_PAGE)
 *   Members({ group, known?, wait? })
 *                           -> { version, members: [info, ...] }
 *                                               the live members of a group (info.groups lists
 *                                               it), by name; with `known` (a version it gave
 *                                               before) it answers once the group differs from
 *                                               that version, or after `wait` ms (at most
 *                                               MAX_WATCH_MS): a watch by long poll
 *
 * A group and a service never share a name: Register refuses, with "name_taken", a service named
 * like a group that has members, and a registration that joins a group named like a service.
 *
 * The token is the holder's secret: kept here, never answered. Only the same token re-registers
 * a held name (the holder after a reconnect); the holder's older connection is then closed. One
 * connection carries at most one registration.
 *
 * A name service that has just started knows only the services that have registered again so
 * far (after a restart, every live one does within a few hundred ms). For its first RECOVERY_MS,
 * GetInfo of a name it does not know and GetRemoteFunc of a function nobody offers yet wait (until
 * the name or function arrives, or the window ends) rather than answer "none": a look-up during a
 * restart then finds the service instead of failing.
 * @internal
 */
import { timingSafeEqual } from "node:crypto";
import { formatAddr, SOCK_STREAM, type NetAddr } from "../../stdlib/net.js";
import { LuanetError } from "../errors.js";
import { hostName } from "../host.js";
import { version } from "../package-info.js";
import { log } from "../log.js";
import { badName } from "../names.js";
import { LIST_PAGE, nameIsGroup, nameTaken, type ServiceInfo } from "../registry/types.js";
import { badRegistration, badToken, publicInfo } from "../registry/validate.js";
import { Block, WakeUp } from "../scheduler/block.js";
import { Running } from "../scheduler/spawn.js";
import { Sleep } from "../scheduler/sleep.js";
import type { Instruction } from "../scheduler/instruction.js";
import type { Task } from "../scheduler/task.js";
import { runtime } from "../process.js";
import { RegRPCFunction, StartLocalService } from "../service/api.js";
import type { Conn } from "../service/conn.js";
import type { CallContext } from "../service/dispatch.js";
import { configure } from "../service/config.js";

/** A registration is dropped after this long without a frame (heartbeats come every second). */
export const EXPIRY_MS = Number(process.env.LUANET_NS_EXPIRY_MS ?? 10_000);

/** How long after start look-ups of unknown names wait for registrations (see above). */
export const RECOVERY_MS = Number(process.env.LUANET_NS_RECOVERY_MS ?? 3000);

/** The longest a Members watch waits for a change before it answers with no news. */
export const MAX_WATCH_MS = 30_000;
/** Members watches one connection may keep waiting at once; past that they answer at once. */
const WATCHES_PER_CONN = 64;

interface Registration {
  /** What GetInfo and List answer: the checked public fields only. */
  info: ServiceInfo;
  token: string;
  conn: Conn;
}

/** Token equality in time that does not depend on where they differ. */
function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const badRequest = (problem: string) => new LuanetError("bad_request", `Register(info): ${problem}`);

export function* nameService(addr: NetAddr) {
  const self = runtime.root;
  const table = new Map<string, Registration>();
  /** The name each connection holds. */
  const held = new Map<Conn, string>();
  /** func -> the names that provide it, kept with the table, so GetRemoteFunc scans nothing. */
  const providers = new Map<string, Set<string>>();
  const index = (info: ServiceInfo, add: boolean) => {
    for (const func of info.funcs) {
      const names = providers.get(func) ?? new Set<string>();
      if (add) providers.set(func, names.add(info.name));
      else if (names.delete(info.name) && names.size === 0) providers.delete(func);
    }
  };
  /** group -> its members' names, and the group's version, which changes with every join,
   * leave and change of a member's registration. */
  const groups = new Map<string, Set<string>>();
  const versions = new Map<string, string>();
  /** Versions are unique to this run of the name service, so a watcher's version from before a
   * restart never matches. */
  const epoch = Math.random().toString(36).slice(2, 10);
  let changes = 0;
  /** Look-ups waiting out the recovery window ("name:", "func:" keys) and watches ("group:"). */
  const waiting = new Map<string, Set<Task>>();
  const startedAt = performance.now();
  const arrived = (key: string) => {
    for (const task of waiting.get(key) ?? []) WakeUp(task);
  };
  const versionOf = (group: string) => versions.get(group) ?? `${epoch}.0`;
  const changed = (group: string) => {
    if (groups.has(group)) versions.set(group, `${epoch}.${++changes}`);
    else versions.delete(group);
    arrived(`group:${group}`);
    arrived(`name:${group}`); // GetInfo of a group's name answers null now, in the recovery window too
  };
  const indexGroups = (info: ServiceInfo, add: boolean) => {
    for (const group of info.groups) {
      const names = groups.get(group) ?? new Set<string>();
      if (add) groups.set(group, names.add(info.name));
      else if (names.delete(info.name) && names.size === 0) groups.delete(group);
      changed(group);
    }
  };
  const put = (name: string, registration: Registration | undefined) => {
    const before = table.get(name);
    if (before !== undefined) {
      index(before.info, false);
      indexGroups(before.info, false);
    }
    if (registration === undefined) table.delete(name);
    else {
      table.set(name, registration);
      index(registration.info, true);
      indexGroups(registration.info, true);
      if (waiting.size > 0) {
        arrived(`name:${name}`);
        for (const func of registration.info.funcs) arrived(`func:${func}`);
      }
    }
  };
  const membersOf = (group: string) => ({
    version: versionOf(group),
    members: [...groups.get(group) ?? []].sort().map((name) => table.get(name)!.info),
  });
  /** Members watches waiting, per connection. */
  const watching = new Map<Conn, number>();
  const recovering = () => performance.now() - startedAt < RECOVERY_MS;
  /** In a handler's task: wait, woken by `arrived(key)`, while `still()` and until `until`. */
  function* waitFor(key: string, still: () => boolean, until: number): Generator<Instruction, void, unknown> {
    const me = Running()!;
    const set = waiting.get(key) ?? new Set<Task>();
    waiting.set(key, set.add(me));
    try {
      let left: number;
      while (still() && (left = until - performance.now()) > 0) yield* Block(left);
    } finally {
      set.delete(me);
      if (set.size === 0) waiting.delete(key);
    }
  }
  /**
   * A look-up's answer: what `found()` gives, else `none`; but while the recovery window is open
   * and it gives nothing, an operation (run in the handler's own task) that waits for `key` to
   * arrive, or the window to end, and answers then.
   */
  const answer = <T>(key: string, found: () => T | undefined, none: T) => {
    const now = found();
    if (now !== undefined || !recovering()) return now ?? none;
    return (function* (): Generator<Instruction, T, unknown> {
      yield* waitFor(key, () => found() === undefined, startedAt + RECOVERY_MS);
      return found() ?? none;
    })();
  };

  RegRPCFunction(self, "Register", (args: ServiceInfo & { token: string }, ctx: CallContext) => {
    if (ctx.conn === null) throw badRequest("a registration must come over a connection");
    const conn = ctx.conn;
    const problem = badRegistration(args) ?? badToken(args.token);
    if (problem !== null) throw badRequest(problem);
    const info = publicInfo(args);
    const other = held.get(conn);
    if (other !== undefined && other !== info.name) throw badRequest(`this connection holds the registration of ${JSON.stringify(other)} already; a connection carries one`);
    const holder = table.get(info.name);
    const same = holder !== undefined && sameToken(holder.token, args.token);
    if (holder !== undefined && !same && !holder.conn.link.closed) throw nameTaken(holder.info);
    if (groups.has(info.name)) throw nameIsGroup(info.name);
    for (const group of info.groups) {
      const service = table.get(group);
      if (service !== undefined) throw new LuanetError("name_taken", `${info.name} cannot join the group "${group}": ${nameTaken(service.info).message}; a service and a group cannot share a name`);
    }
    if (!same) log.info(`registered ${info.name} at ${formatAddr(info.addr)} (pid ${info.pid})`);
    put(info.name, { info, token: args.token, conn: conn });
    held.set(conn, info.name);
    if (holder !== undefined && holder.conn !== conn) {
      // The holder came back on a new connection (or a closed holder's name was taken): the
      // older one carries nothing any more.
      held.delete(holder.conn);
      holder.conn.link.close(new Error(`${info.name} registered again on another connection`));
    }
    return null;
  });
  // A service that leaves (drains) drops its registration, keeping the connection for its own calls.
  RegRPCFunction(self, "Unregister", (_args: unknown, ctx: CallContext) => {
    if (ctx.conn === null) throw new LuanetError("bad_request", "Unregister(null): a registration is dropped over the connection that holds it");
    const name = held.get(ctx.conn);
    if (name === undefined) return null;
    held.delete(ctx.conn);
    if (table.get(name)?.conn === ctx.conn) {
      put(name, undefined);
      log.info(`unregistered ${name}: it left`);
    }
    return null;
  });
  // A group's name is no service's: null at once, in the recovery window too.
  // `now: true`: no waiting out the recovery window (JoinGroup's check; Register refuses a clash anyway).
  // Who runs this name service: `luanet up` adopts one it started before it was restarted.
  const started = Date.now();
  RegRPCFunction(self, "Status", () => ({ pid: process.pid, host: hostName(), started, version }));
  RegRPCFunction(self, "GetInfo", ({ name, now }: { name: string; now?: unknown }) => {
    const found = () => table.get(name)?.info ?? (groups.has(name) ? null : undefined);
    return now === true ? found() ?? null : answer(`name:${name}`, found, null);
  });
  RegRPCFunction(self, "GetRemoteFunc", ({ func }: { func: string }) => answer(`func:${func}`, () => (providers.has(func) ? [...providers.get(func)!] : undefined), []));
  // List(null): every registration. List({ after, limit }): a page, in name order, of at most
  // `limit` (at most LIST_PAGE) registrations named after `after`: what tools use, so the answer
  // fits a frame however many services there are.
  RegRPCFunction(self, "List", (args: { after?: unknown; limit?: unknown } | null) => {
    if (args === null || typeof args !== "object") return [...table.values()].map((r) => r.info);
    const after = typeof args.after === "string" ? args.after : "";
    const limit = typeof args.limit === "number" && Number.isInteger(args.limit) && args.limit > 0 ? Math.min(args.limit, LIST_PAGE) : LIST_PAGE;
    return [...table.keys()].filter((name) => name > after).sort().slice(0, limit).map((name) => table.get(name)!.info);
  });

  RegRPCFunction(self, "Members", (args: { group?: unknown; known?: unknown; wait?: unknown } | null, ctx: CallContext) => {
    const group = args?.group;
    const problem = badName(group);
    if (problem !== null) throw new LuanetError("bad_request", `Members({ group, known?, wait? }): group: ${problem}`);
    const g = group as string;
    const known = args!.known;
    // No recovery wait here: GetInfo of the name does that (it answers null as soon as the group has a member).
    if (known === undefined || known === null) return membersOf(g);
    const conn = ctx.conn;
    const wait = typeof args!.wait === "number" && args!.wait > 0 ? Math.min(args!.wait, MAX_WATCH_MS) : 0;
    if (versionOf(g) !== known || wait === 0 || conn === null) return membersOf(g);
    return (function* (): Generator<Instruction, ReturnType<typeof membersOf>, unknown> {
      // Counted when the handler's task runs (calls that arrive together start in order).
      const count = watching.get(conn) ?? 0;
      if (count >= WATCHES_PER_CONN) return membersOf(g);
      watching.set(conn, count + 1);
      try {
        yield* waitFor(`group:${g}`, () => versionOf(g) === known && !conn.link.closed, performance.now() + wait);
      } finally {
        const n = watching.get(conn)! - 1;
        if (n === 0) watching.delete(conn);
        else watching.set(conn, n);
      }
      return membersOf(g);
    })();
  });

  self.onConnClosed((conn) => {
    const name = held.get(conn);
    if (name === undefined) return;
    held.delete(conn);
    if (table.get(name)?.conn !== conn) return;
    put(name, undefined);
    log.info(`unregistered ${name}: its connection closed`);
  });

  // Its clients need it until they have left (drained) themselves; its handlers are watches that
  // wait up to MAX_WATCH_MS: told to stop, it shuts down at once.
  self.drainsFirst = false;
  // Every Members watch is a handler waiting: room for many (WATCHES_PER_CONN bounds each connection's).
  configure(self.config, { maxConcurrentHandlers: 100_000 });
  const [, err] = yield* StartLocalService(self, "nameservice", SOCK_STREAM, addr);
  if (err !== null) throw err;

  for (;;) {
    yield* Sleep(1000);
    const now = performance.now();
    for (const reg of table.values()) {
      if (now - reg.conn.lastSeen > EXPIRY_MS) reg.conn.link.close(new Error(`no heartbeat from ${reg.info.name} for ${EXPIRY_MS} ms`));
    }
  }
}
