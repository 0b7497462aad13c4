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
  /** Connections this service's listener holds at once; more are closed on arrival (UDP: their
   * datagrams are dropped, and logged). */
  maxConnections: number;
  /** A connection we dialed that hears nothing, not even an answer to PING, for this long (ms)
   * is closed: its pending calls fail `disconnected`. */
  peerTimeout: number;
  /** Calls to one service waiting for replies at once; past that, calls fail `overloaded`. */
  maxPendingCalls: number;
  /** Bytes queued on a connection past which `SendMsg` waits (up to rpcTimeout) for it to drain. */
  sendHighWater: number;
  /** Messages waiting for `GetMsg`; at this many, the service stops reading from the stream
   * connections that bring more until half are taken (UDP messages past it are dropped). */
  mailboxLength: number;
}

export const config: Config = {
  rpcTimeout: 10_000,
  maxFrameBytes: 16 * 1024 * 1024,
  maxConcurrentHandlers: 1000,
  handlerQueue: 10_000,
  maxConnections: 10_000,
  peerTimeout: 5000,
  maxPendingCalls: 10_000,
  sendHighWater: 1024 * 1024,
  mailboxLength: 100_000,
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
