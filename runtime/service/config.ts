/**
 * Limits and defaults of a service; `luanet.Configure({...})` changes those of the service that
 * calls it. Each service has its own copy (Service.config).
 */
import { describe } from "../errors.js";

export interface Config {
  /** Deadline of an RPC call when none is given per call (ms). */
  rpcTimeout: number;
  /** Largest frame sent or accepted (bytes); larger sends fail with `too_large`. */
  maxFrameBytes: number;
  /** On UDP, the most bytes of a datagram that carries a batch of frames (route header and
   * signature included): small frames sent in one turn share datagrams up to this size; a
   * larger frame goes alone (up to one datagram, 65,507 bytes). */
  udpBatchBytes: number;
  /** Handlers of this service running at once; more calls wait in a queue. */
  maxConcurrentHandlers: number;
  /** Calls that may wait for a handler slot; past that they fail with `overloaded`. */
  handlerQueue: number;
  /** Bytes of CALL frames waiting for a handler slot, by their decoded cost (wire/cbor-subset.ts);
   * past that, `overloaded`. */
  handlerQueueBytes: number;
  /** Connections this service's listener holds at once. On a stream listener a new one takes
   * the place of the oldest that has not yet proved itself (see maxConnectionsPerSource); when
   * every place is held by a proven connection, new ones are closed on arrival. On UDP, the
   * datagrams that would open one more link are dropped, and logged. */
  maxConnections: number;
  /** Connections from one source address (an IP; all UNIX-socket peers count as one), under the
   * same rule as maxConnections. */
  maxConnectionsPerSource: number;
  /** An accepted connection on which nothing at all arrives (no frame, not even PING) for this
   * long (ms) is closed. Luanet dialers PING every second on a quiet link. */
  idleTimeout: number;
  /** A connection we dialed that hears nothing, not even an answer to PING, for this long (ms)
   * is closed: its pending calls fail `disconnected`. */
  peerTimeout: number;
  /** Calls to one service waiting for replies at once; past that, calls fail `overloaded`. */
  maxPendingCalls: number;
  /** Bytes queued on a connection past which `SendMsg` waits (up to rpcTimeout) for it to drain,
   * and an accepted connection is not read until its replies drain. */
  sendHighWater: number;
  /** Bytes queued to send on one connection past which it is closed rather than buffered
   * further (one frame of up to maxFrameBytes always fits). */
  maxSendBytes: number;
  /** Bytes queued to send over all the accepted connections whose peers are not reading (those
   * above sendHighWater); past it, the one with the most queued is closed. */
  maxSendBytesTotal: number;
  /** Messages waiting for `GetMsg`; at this many, the service stops reading from the stream
   * connections that bring more until half are taken (UDP messages past it are dropped). */
  mailboxLength: number;
  /** The same bound in bytes, by the messages' decoded cost (wire/cbor-subset.ts). */
  mailboxBytes: number;
  /** Bytes of frames partly received, over all connections of the process; a connection whose
   * partial frame would go past it is closed. */
  partialFrameBytes: number;
  /** A frame that has started to arrive must be complete within this long (ms), or its
   * connection is closed. */
  frameTimeout: number;
  /** When the process is told to stop (SIGTERM, SIGINT), how long (ms) the service waits, once it
   * has left the registry, for the handlers it is running to finish; those still running then are
   * halted (their callers get `shutting_down`). `LUANET_DRAIN_MS` sets the default. */
  drainGrace: number;
}

/** The default drain grace: `LUANET_DRAIN_MS` (a positive integer) if set, else 10 s. */
function drainDefault(env: NodeJS.ProcessEnv): number {
  const text = env.LUANET_DRAIN_MS;
  if (text === undefined || text === "") return 10_000;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0) throw new TypeError(`LUANET_DRAIN_MS must be a positive integer (ms), got ${describe(text)}`);
  return ms;
}

/** The limits a service starts with (a service started by NewService starts with its starter's). */
export const DEFAULTS: Readonly<Config> = Object.freeze({
  rpcTimeout: 10_000,
  maxFrameBytes: 16 * 1024 * 1024,
  udpBatchBytes: 1400,
  maxConcurrentHandlers: 1000,
  handlerQueue: 10_000,
  handlerQueueBytes: 64 * 1024 * 1024,
  maxConnections: 10_000,
  maxConnectionsPerSource: 1000,
  idleTimeout: 30_000,
  peerTimeout: 5000,
  maxPendingCalls: 10_000,
  sendHighWater: 1024 * 1024,
  maxSendBytes: 32 * 1024 * 1024,
  maxSendBytesTotal: 256 * 1024 * 1024,
  mailboxLength: 100_000,
  mailboxBytes: 4 * 1024 * 1024,
  partialFrameBytes: 128 * 1024 * 1024,
  frameTimeout: 30_000,
  drainGrace: drainDefault(process.env),
});

/** Check `changes` (luanet.Configure's argument) and apply them to `config`. */
export function configure(config: Config, changes: Partial<Config>): Config {
  if (typeof changes !== "object" || changes === null) throw new TypeError(`luanet.Configure(options): options must be an object, got ${describe(changes)}`);
  for (const [key, value] of Object.entries(changes)) {
    if (!(key in config)) throw new TypeError(`luanet.Configure(options): unknown option ${JSON.stringify(key)}; known: ${Object.keys(config).join(", ")}`);
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      throw new TypeError(`luanet.Configure(options): ${key} must be a positive integer, got ${describe(value)}`);
    }
  }
  return Object.assign(config, changes);
}
