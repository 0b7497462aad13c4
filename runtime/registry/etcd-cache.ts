/**
 * Answers from etcd kept in memory, and kept true by an etcd watch on the keys they came from.
 * The etcd registry has two: service look-ups by name, and the providers of each function.
 *
 * An entry is trusted only while its watch is connected: every change etcd makes (a new
 * registration, a lease that expired, a service that left) arrives on the watch and updates or
 * drops the entry, so a caller stops routing to a dead service when its lease runs out. When the
 * watch drops (etcd away, a member lost) the cache empties and questions go to etcd, which bounds
 * them; it fills again once the watch is back.
 * @internal
 */
export class WatchedCache<V> {
  private entries = new Map<string, V>();
  private live = false;
  /** Bumped on every change: an answer read from etcd while one arrived is not stored. */
  private generation = 0;

  /** The cached answer, or undefined: ask etcd. */
  get(key: string): V | undefined {
    return this.live ? this.entries.get(key) : undefined;
  }

  /** Call before asking etcd; hand the answer to `store` with this token. */
  begin(): number {
    return this.generation;
  }

  /** Keep an answer read from etcd, unless something changed since `begin`. */
  store(key: string, value: V, token: number): void {
    if (this.live && token === this.generation) this.entries.set(key, value);
  }

  /** The watch says `key`'s answer is now `value`. */
  set(key: string, value: V): void {
    this.generation++;
    this.entries.set(key, value);
  }

  /** The watch says `key`'s answer changed: ask etcd next time. */
  drop(key: string): void {
    this.generation++;
    this.entries.delete(key);
  }

  /** The watch is connected (true) or not (false). Either way what was cached is dropped. */
  setLive(live: boolean): void {
    this.generation++;
    this.live = live;
    this.entries.clear();
  }
}
