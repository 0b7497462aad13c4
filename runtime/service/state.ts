/**
 * luanet.State(key, init): a service's state that outlives a hot reload. One table per service
 * (two NewService instances of one script have their own), so the old code and the code a reload
 * loads get the same object for a key; `init()` makes it the first time the key is asked for.
 * @internal
 */
import { describe } from "../errors.js";

const WHERE = "luanet.State(key, init)";

export class ServiceState {
  private readonly values = new Map<string, unknown>();

  /** The value kept under `key`, made by `init()` when there is none yet. */
  get<T>(key: string, init: () => T): T {
    if (typeof key !== "string" || key.length === 0) throw new TypeError(`${WHERE}: key must be a non-empty string, got ${describe(key)}`);
    if (typeof init !== "function") throw new TypeError(`${WHERE}: init must be a function that makes the first value, got ${describe(init)}`);
    if (this.values.has(key)) return this.values.get(key) as T;
    const value = init();
    this.values.set(key, value);
    return value;
  }
}
