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
import { log } from "../log.js";
import { badName } from "../names.js";
import { allDone } from "../scheduler/loop.js";
import { local } from "../service/local.js";
import { nameGone } from "../service/peers.js";
import { WatchedCache } from "./etcd-cache.js";
import { bounded, client, DEFAULT_PREFIX, keys, parseInfo, type Client, type EtcdSpec } from "./etcd-client.js";
import { EtcdRegistrar } from "./etcd-registrar.js";
import type { Registry, ServiceInfo } from "./types.js";

export class EtcdRegistry implements Registry {
  readonly where: string;
  /** name -> its registration, or null: none. */
  private readonly services = new WatchedCache<ServiceInfo | null>();
  /** function -> the names of the services that provide it. */
  private readonly providing = new WatchedCache<string[]>();
  /** The live watches (null: none started); watches created for a stopped set are cancelled. */
  private watchers: Watcher[] | null = null;
  private registrar: EtcdRegistrar | null = null;

  constructor(readonly spec: EtcdSpec) {
    this.where = `etcd at ${spec.hosts.join(",")}${spec.prefix === DEFAULT_PREFIX ? "" : ` (keys under ${spec.prefix})`}`;
    client(spec).catch(() => {}); // start loading etcd3 now: it takes a moment (a failure shows on use)
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
    client(this.spec).then((c) => {
      this.watch(c, keys.services, this.services, watchers, (event, key, value, lease) => {
        const name = keys.nameOf(key);
        if (name === null) return; // not a key luanet writes
        this.registrar?.changed(name, event === "delete" ? null : value, lease);
        if (event === "delete") {
          this.services.set(name, null);
          nameGone(name, `${name}'s registration in etcd ended (its lease expired, or it left)`);
        } else {
          const info = parseInfo(value, name);
          if (info !== null) this.services.set(name, info);
          else this.services.drop(name);
        }
      });
      this.watch(c, keys.allFuncs, this.providing, watchers, (_, key) => {
        const func = keys.funcOf(key);
        if (func !== null) this.providing.drop(func);
      });
    }, () => {
      if (this.watchers === watchers) this.watchers = null;
    });
    if (local.name === null) void allDone().then(() => this.stopWatch(watchers));
  }

  /** Cancel the watches `watchers` holds (and any it gets later), unless a service started since. */
  private stopWatch(watchers: Watcher[]): void {
    if (local.name !== null || this.watchers !== watchers) return;
    this.watchers = null;
    this.services.setLive(false);
    this.providing.setLive(false);
    for (const w of watchers.splice(0)) void w.cancel().catch(() => {});
  }

  async lookup(name: string): Promise<ServiceInfo | null> {
    const hit = this.services.get(name);
    if (hit !== undefined) return hit;
    this.startWatch();
    const token = this.services.begin();
    const text = await bounded(this.spec, `looking up ${name}`, (c) => c.kv.get(keys.service(name)).string());
    const info = text === null ? null : parseInfo(text, name);
    this.services.store(name, info, token);
    return info;
  }

  async providers(func: string): Promise<string[]> {
    const hit = this.providing.get(func);
    if (hit !== undefined) return [...hit];
    this.startWatch();
    const token = this.providing.begin();
    const index = await bounded(this.spec, `finding the providers of ${func}`, (c) => c.kv.getAll().prefix(keys.funcs(func)).strings());
    const names = Object.values(index).filter((name) => badName(name) === null).sort();
    this.providing.store(func, names, token);
    return [...names];
  }

  async list(): Promise<ServiceInfo[]> {
    const all = await bounded(this.spec, "listing the services", (c) => c.kv.getAll().prefix(keys.services).strings());
    return Object.entries(all).flatMap(([key, text]) => {
      const name = keys.nameOf(key);
      const info = name === null ? null : parseInfo(text, name);
      return info === null ? [] : [info];
    });
  }

  register(funcs: () => string[], onFirst: Parameters<Registry["register"]>[1]): void {
    this.registrar ??= new EtcdRegistrar(this, funcs, onFirst);
  }

  republish(): void {
    this.registrar?.poke();
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

const registries = new Map<string, EtcdRegistry>();

/** The registry for an etcd address (one per address per process). */
export function etcdRegistry(spec: EtcdSpec): EtcdRegistry {
  let r = registries.get(spec.url);
  if (r === undefined) registries.set(spec.url, (r = new EtcdRegistry(spec)));
  return r;
}
