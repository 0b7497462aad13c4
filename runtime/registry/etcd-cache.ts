/**
 * Name look-ups answered from memory, kept true by one etcd watch on the services prefix.
 *
 * An entry is trusted only while the watch is connected: every change etcd makes to a
 * registration (a new one, a lease that expired, a service that left) arrives on it and updates
 * or drops the entry, so a caller stops routing to a dead service when its lease runs out. When
 * the watch drops (etcd away, a member lost) the cache empties and look-ups go to etcd, which
 * bounds them; it fills again once the watch is back.
 * @internal
 */
import type { ServiceInfo } from "./types.js";

export class LookupCache {
  private entries = new Map<string, ServiceInfo | null>();
  private live = false;
  /** Bumped on every change: a look-up that was answered while one arrived is not stored. */
  private generation = 0;

  /** The cached answer (null: no such service), or undefined: ask etcd. */
  get(name: string): ServiceInfo | null | undefined {
    return this.live ? this.entries.get(name) : undefined;
  }

  /** Call before asking etcd; hand the result to `store` with this token. */
  begin(): number {
    return this.generation;
  }

  store(name: string, info: ServiceInfo | null, token: number): void {
    if (this.live && token === this.generation) this.entries.set(name, info);
  }

  /** The watch saw `name` registered (or updated) with `info`. */
  put(name: string, info: ServiceInfo): void {
    this.generation++;
    this.entries.set(name, info);
  }

  /** The watch saw `name`'s registration go. */
  delete(name: string): void {
    this.generation++;
    this.entries.set(name, null);
  }

  /** The watch is connected (true) or not (false). Either way what was cached is dropped. */
  setLive(live: boolean): void {
    this.generation++;
    this.live = live;
    this.entries.clear();
  }
}
