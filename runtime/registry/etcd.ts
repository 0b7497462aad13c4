/**
 * The registry backed by etcd v3: services register under a key prefix, each on a lease it keeps
 * alive (etcd-registrar.ts); look-ups are answered from a cache that a watch keeps current
 * (etcd-cache.ts); GetRemoteFuncProvider reads the function index; `luanet ls` reads the
 * services. Every wait on etcd is bounded (etcd-client.ts): with etcd away, a look-up fails with
 * `unavailable` within LUANET_ETCD_TIMEOUT_MS, while connections already open carry on.
 * @internal
 */
import { log } from "../log.js";
import { nameGone } from "../service/peers.js";
import { LookupCache } from "./etcd-cache.js";
import { bounded, client, DEFAULT_PREFIX, keys, parseInfo, type Client, type EtcdSpec } from "./etcd-client.js";
import { EtcdRegistrar } from "./etcd-registrar.js";
import type { Registry, ServiceInfo } from "./types.js";

export class EtcdRegistry implements Registry {
  readonly where: string;
  private readonly cache = new LookupCache();
  private watching = false;
  private registrar: EtcdRegistrar | null = null;

  constructor(readonly spec: EtcdSpec) {
    this.where = `etcd at ${spec.hosts.join(",")}${spec.prefix === DEFAULT_PREFIX ? "" : ` (keys under ${spec.prefix})`}`;
    client(spec).catch(() => {}); // start loading etcd3 now: it takes a moment (a failure shows on use)
  }

  /** Start the watch that keeps the cache current (once; it lasts as long as the process). */
  startWatch(): void {
    if (this.watching) return;
    this.watching = true;
    client(this.spec).then((c) => this.watch(c), () => (this.watching = false));
  }

  async lookup(name: string): Promise<ServiceInfo | null> {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const token = this.cache.begin();
    this.startWatch();
    const text = await bounded(this.spec, `looking up ${name}`, (c) => c.kv.get(keys.service(name)).string());
    const info = text === null ? null : parseInfo(text, name);
    this.cache.store(name, info, token);
    return info;
  }

  async providers(func: string): Promise<string[]> {
    const names = await bounded(this.spec, `finding the providers of ${func}`, (c) => c.kv.getAll().prefix(keys.funcs(func)).strings());
    return Object.values(names).sort();
  }

  async list(): Promise<ServiceInfo[]> {
    const all = await bounded(this.spec, "listing the services", (c) => c.kv.getAll().prefix(keys.services).strings());
    return Object.entries(all).map(([key, text]) => parseInfo(text, keys.nameOf(key))).filter((info) => info !== null);
  }

  register(funcs: () => string[], onFirst: Parameters<Registry["register"]>[1]): void {
    this.registrar ??= new EtcdRegistrar(this, funcs, onFirst);
  }

  republish(): void {
    this.registrar?.poke();
  }

  /** One watch on the services prefix for the life of the process; etcd3 reconnects it. */
  private watch(c: Client): void {
    c.kv.watch().prefix(keys.services).create().then((watcher) => {
      this.cache.setLive(true);
      watcher
        .on("connected", () => this.cache.setLive(true))
        .on("disconnected", () => this.cache.setLive(false))
        .on("put", (kv) => {
          const name = keys.nameOf(kv.key.toString());
          const info = parseInfo(kv.value.toString(), name);
          if (info !== null) this.cache.put(name, info);
          this.registrar?.changed(name, info);
        })
        .on("delete", (kv) => {
          const name = keys.nameOf(kv.key.toString());
          this.cache.delete(name);
          this.registrar?.changed(name, null);
          nameGone(name, `${name}'s registration in etcd ended (its lease expired, or it left)`);
        })
        .on("error", (error) => {
          // The watch was cancelled by etcd (a compaction, say): start another.
          log.warn(`the etcd watch on ${this.spec.prefix}/${keys.services} ended: ${error.message}; watching again`);
          this.cache.setLive(false);
          void watcher.cancel().catch(() => {});
          setTimeout(() => this.watch(c), 1000).unref();
        });
    }, (error: Error) => {
      log.warn(`cannot watch ${this.spec.prefix}/${keys.services} in etcd: ${error.message}; trying again`);
      setTimeout(() => this.watch(c), 1000).unref();
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
