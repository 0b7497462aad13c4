/**
 * Limits and defaults of this process's service layer; `luanet.Configure({...})` changes them.
 */
import { describe } from "../errors.js";

export interface Config {
  /** Deadline of an RPC call when none is given per call (ms). */
  rpcTimeout: number;
  /** Largest frame sent or accepted (bytes); larger sends fail with `too_large`. */
  maxFrameBytes: number;
  /** Handlers of this service running at once; more calls wait in a queue. */
  maxConcurrentHandlers: number;
  /** Calls that may wait for a handler slot; past that they fail with `overloaded`. */
  handlerQueue: number;
  /** Connections this service's stream listener accepts at once; more are closed on arrival. */
  maxConnections: number;
}

export const config: Config = {
  rpcTimeout: 10_000,
  maxFrameBytes: 16 * 1024 * 1024,
  maxConcurrentHandlers: 1000,
  handlerQueue: 10_000,
  maxConnections: 10_000,
};

export function configure(changes: Partial<Config>): Config {
  if (typeof changes !== "object" || changes === null) throw new TypeError(`luanet.Configure(options): options must be an object, got ${describe(changes)}`);
  for (const [key, value] of Object.entries(changes)) {
    if (!(key in config)) throw new TypeError(`luanet.Configure(options): unknown option ${JSON.stringify(key)}; known: ${Object.keys(config).join(", ")}`);
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      throw new TypeError(`luanet.Configure(options): ${key} must be a positive integer, got ${describe(value)}`);
    }
  }
  return Object.assign(config, changes);
}
