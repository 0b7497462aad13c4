/**
 * The registry backed by etcd v3: services register under a key prefix, each on a lease it keeps
 * alive (etcd-registrar.ts). Look-ups by name and GetRemoteFuncProvider read the services and the
 * function index in etcd, and keep the answers in caches that two watches keep current
 * (etcd-cache.ts); `luanet ls` reads the services. Every wait on etcd is bounded
 * (etcd-client.ts): with etcd away, a question fails with `unavailable` within
 * LUANET_ETCD_TIMEOUT_MS, while connections already open carry on.
 * @internal
 */
import type { Watcher } from "etcd3";
import { RPCError, type LuanetError } from "../errors.js";
import { log } from "../log.js";
import { badName } from "../names.js";
import { awaitWithin, TIMED_OUT } from "../scheduler/await-within.js";
import type { Instruction } from "../scheduler/instruction.js";
import { allDone } from "../scheduler/live.js";
import { WatchedCache } from "./etcd-cache.js";
import { bounded, DEFAULT_PREFIX, openClient, keys, parseInfo, type Client, type EtcdSpec } from "./etcd-client.js";
import { EtcdRegistrar } from "./etcd-registrar.js";
import type { Registrant, Registration, Registry, RegistryHost, ServiceInfo } from "./types.js";

export class EtcdRegistry implements Registry {
  readonly where: string;
  /** name -> its registration, or null: none. */
  private readonly services = new WatchedCache<ServiceInfo | null>();
  /** function -> the names of the services that provide it. */
  private readonly providing = new WatchedCache<string[]>();
  /** group -> its members. */
  private readonly grouped = new WatchedCache<readonly ServiceInfo[]>();
  /** The live watches (null: none started); watches created for a stopped set are cancelled. */
  private watchers: Watcher[] | null = null;
  /** The registrars of this process's services, by name. */
  private readonly registrars = new Map<string, EtcdRegistrar>();

  readonly client: Promise<Client>;
  /** Keys whose bad value was logged already (etcd-client.ts parseInfo). */
  readonly warned = new Set<string>();

  constructor(readonly spec: EtcdSpec, private readonly host: RegistryHost) {
    this.where = `etcd at ${spec.hosts.join(",")}${spec.prefix === DEFAULT_PREFIX ? "" : ` (keys under ${spec.prefix})`}`;
    // Start loading etcd3 now: it takes a moment (a failure shows on use).
    this.client = openClient(spec);
    this.client.catch(() => {});
  }

  /**
   * Start the watches that keep the caches current (once; they last as long as the process). A
   * watch is a gRPC stream, which holds the process open: in a process with no service of its
   * own (a tool, a script that only calls) they stop once no task is left, so it can exit, and
   * start again if a look-up comes after all.
   */
  startWatch(): void {
    if (this.watchers !== null) return;
    const watchers: Watcher[] = (this.watchers = []);
    this.client.then((c) => {
      this.watch(c, keys.services, this.services, watchers, (event, key, value, lease) => {
        const name = keys.nameOf(key);
        if (name === null) return; // not a key luanet writes
        this.registrars.get(name)?.changed(event === "delete" ? null : value, lease);
        if (event === "delete") {
          this.services.set(name, null);
          this.host.nameGone(name, `${name}'s registration in etcd ended (its lease expired, or it left)`);
        } else {
          const info = parseInfo(value, name, this.warned);
          if (info !== null) this.services.set(name, info);
          else this.services.drop(name);
        }
      });
      this.watch(c, keys.allFuncs, this.providing, watchers, (_, key) => {
        const func = keys.funcOf(key);
        if (func !== null) this.providing.drop(func);
      });
      this.watch(c, keys.allGroups, this.grouped, watchers, (_, key) => {
        const group = keys.groupOf(key);
        if (group !== null) this.grouped.drop(group);
      });
    }, () => {
      if (this.watchers === watchers) this.watchers = null;
    });
    if (!this.host.hasServices()) void allDone().then(() => this.stopWatch(watchers));
  }

  /** Cancel the watches `watchers` holds (and any it gets later), unless a service started since. */
  private stopWatch(watchers: Watcher[]): void {
    if (this.host.hasServices() || this.watchers !== watchers) return;
    this.watchers = null;
    this.services.setLive(false);
    this.providing.setLive(false);
    this.grouped.setLive(false);
    for (const w of watchers.splice(0)) void w.cancel().catch(() => {});
  }

  /** `promise`'s value within `ms`, else a `timeout` error. */
  private *within<T>(promise: Promise<T>, ms: number, what: string): Generator<Instruction, T, unknown> {
    const value = yield* awaitWithin(promise, ms, what);
    if (value === TIMED_OUT) throw new RPCError("timeout", `${this.where} did not answer within ${ms} ms (${what})`);
    return value;
  }

  *lookup(name: string, timeoutMs: number): Generator<Instruction, ServiceInfo | null, unknown> {
    const hit = this.services.get(name);
    if (hit !== undefined) return hit;
    this.startWatch();
    const token = this.services.begin();
    const text = yield* this.within(bounded(this.client, this.spec, `looking up ${name}`, (c) => c.kv.get(keys.service(name)).string()), timeoutMs, `looking up ${name}`);
    const info = text === null ? null : parseInfo(text, name, this.warned);
    this.services.store(name, info, token);
    return info;
  }

  *providers(func: string, timeoutMs: number): Generator<Instruction, string[], unknown> {
    const hit = this.providing.get(func);
    if (hit !== undefined) return [...hit];
    this.startWatch();
    const token = this.providing.begin();
    const what = `finding the providers of ${func}`;
    const index = yield* this.within(bounded(this.client, this.spec, what, (c) => c.kv.getAll().prefix(keys.funcs(func)).strings()), timeoutMs, what);
    const names = Object.values(index).filter((name) => badName(name) === null).sort();
    this.providing.store(func, names, token);
    return [...names];
  }

  cachedMembers(group: string): readonly ServiceInfo[] | undefined {
    return this.grouped.get(group);
  }

  unreachable(): void {
    // The members come from the watch, which hears of every change: nothing to forget.
  }

  *members(group: string, timeoutMs: number): Generator<Instruction, readonly ServiceInfo[], unknown> {
    const hit = this.grouped.get(group);
    if (hit !== undefined) return hit;
    this.startWatch();
    const token = this.grouped.begin();
    const what = `finding the members of ${group}`;
    const started = performance.now();
    const index = yield* this.within(bounded(this.client, this.spec, what, (c) => c.kv.getAll().prefix(keys.group(group)).strings()), timeoutMs, what);
    const members: ServiceInfo[] = [];
    for (const name of [...new Set(Object.values(index))].filter((name) => badName(name) === null).sort()) {
      const info = yield* this.lookup(name, Math.max(1, timeoutMs - (performance.now() - started)));
      if (info !== null && info.groups.includes(group)) members.push(info);
    }
    this.grouped.store(group, members, token);
    return members;
  }

  *list(timeoutMs: number): Generator<Instruction, ServiceInfo[], unknown> {
    const all = yield* this.within(bounded(this.client, this.spec, "listing the services", (c) => c.kv.getAll().prefix(keys.services).strings()), timeoutMs, "listing the services");
    return Object.entries(all).flatMap(([key, text]) => {
      const name = keys.nameOf(key);
      const info = name === null ? null : parseInfo(text, name, this.warned);
      return info === null ? [] : [info];
    });
  }

  register(self: Registrant, onFirst: (error: LuanetError | null) => void): Registration {
    const registrar = new EtcdRegistrar(this, self, (error) => {
      if (error !== null && this.registrars.get(self.name) === registrar) this.registrars.delete(self.name);
      onFirst(error);
    });
    this.registrars.set(self.name, registrar);
    return registrar;
  }

  /** A registrar of this process ended (its service stopped). */
  forget(name: string, registrar: EtcdRegistrar): void {
    if (this.registrars.get(name) === registrar) this.registrars.delete(name);
  }

  /**
   * Watch the keys under `prefix` for the life of the process (etcd3 reconnects the watch),
   * telling `cache` whether it is live and `changed` every put and delete.
   */
  private watch<V>(c: Client, prefix: string, cache: WatchedCache<V>, set: Watcher[], changed: (event: "put" | "delete", key: string, value: string, lease: string) => void): void {
    const where = `${this.spec.prefix}/${prefix}`;
    const stopped = () => this.watchers !== set;
    const again = () => setTimeout(() => stopped() || this.watch(c, prefix, cache, set, changed), 1000).unref();
    c.kv.watch().prefix(prefix).create().then((watcher: Watcher) => {
      if (stopped()) return void watcher.cancel().catch(() => {});
      set.push(watcher);
      cache.setLive(true);
      watcher
        .on("connected", () => cache.setLive(true))
        .on("disconnected", () => cache.setLive(false))
        .on("put", (kv) => changed("put", kv.key.toString(), kv.value.toString(), kv.lease))
        .on("delete", (kv) => changed("delete", kv.key.toString(), "", kv.lease))
        .on("error", (error) => {
          // etcd cancelled the watch (a compaction, say): start another.
          log.warn(`the etcd watch on ${where} ended: ${error.message}; watching again`);
          cache.setLive(false);
          const i = set.indexOf(watcher);
          if (i >= 0) set.splice(i, 1);
          void watcher.cancel().catch(() => {});
          again();
        });
    }, (error: Error) => {
      if (stopped()) return;
      log.warn(`cannot watch ${where} in etcd: ${error.message}; trying again`);
      again();
    });
  }
}
