/**
 * Transports move frames; they know nothing of envelopes, services or RPC. Every kind of socket
 * (TCP, UNIX stream, UDP) plugs in behind these interfaces, under the limits it is given.
 * @internal
 */
import type { NetAddr } from "../../stdlib/net.js";

/** One connection, carrying whole frames both ways. */
export interface Link {
  /** The other end, for logs: "127.0.0.1:50412". */
  readonly remote: string;
  /** The largest frame body this link carries (one datagram's worth on UDP). */
  readonly maxFrame: number;
  /** False when frames may be lost (UDP): RPC then resends calls and suppresses duplicates. */
  readonly reliable: boolean;
  /** Queue one frame body. Writes are coalesced; call order is delivery order. */
  send(body: Uint8Array): void;
  /** Bytes received and sent on this link so far, framing included (for stats). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Bytes queued to send and not yet handed to the kernel (0 on UDP, which never queues). */
  readonly buffered: number;
  /** Resolves when the queue has been handed to the kernel, or the link closed. */
  drained(): Promise<void>;
  /** Stop reading (the peer's sends then back up), and start again; for receivers that are full. */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** performance.now() when the frame being received began to arrive, 0 when none is (stream
   * links; datagrams come whole). */
  readonly partialSince?: number;
  /** Close (after queued frames are flushed unless `error` is given). */
  close(error?: Error): void;
  /** Resolves once the socket itself is closed: after a graceful close, when everything queued
   * has been written and the peer has closed its end too. Exiting before that loses what was
   * still queued in this process. */
  finished(): Promise<void>;
  readonly closed: boolean;
}

export interface LinkHandlers {
  /** One complete frame body arrived. Throwing closes the link with that error. */
  onFrame(body: Buffer): void;
  /** The link is gone, for good: `error` says why, undefined for an orderly close. */
  onClose(error?: Error): void;
}

export interface Listener {
  /** The bound address (with the real port when 0 was asked for). */
  readonly addr: NetAddr;
  close(): Promise<void>;
}

/** The limits a link or listener works under (a service's luanet.Configure values, read live). */
export interface TransportLimits {
  readonly maxFrameBytes: number; readonly sendHighWater: number; readonly maxSendBytes: number;
  readonly maxSendBytesTotal: number; readonly partialFrameBytes: number;
  readonly maxConnections: number; readonly maxConnectionsPerSource: number;
  /** UDP: the largest datagram a batch of frames fills (udp-batch.ts). */
  readonly udpBatchBytes: number;
}

export interface Transport {
  /**
   * Dial `addr`; resolves once connected, rejects if that takes longer than `timeoutMs`. `open`
   * is given the link once it is up, before any frame arrives, and returns its handlers. A dialed
   * link does not hold the process open by itself (its socket is unref'd): it exists because a
   * task used it, and a task that waits on it has a deadline timer of its own. Bytes still being
   * written keep the process alive until the kernel has them.
   *
   * `greeting` is the first frame body this side sends, opaque to the transport: the other side
   * gets it before any other frame of the link (a stream link sends it first; UDP carries it in
   * every datagram, so a listener that lost its state still learns who sends). Empty: none.
   * `limits` is kept and read live; the link's `maxFrame` comes from `limits.maxFrameBytes` now.
   */
  connect(addr: NetAddr, open: (link: Link) => LinkHandlers, opts: { limits: TransportLimits; timeoutMs: number; greeting: Uint8Array }): Promise<Link>;
  /** Listen on `addr`; `accept` is given each new link and must return its handlers. `limits` is
   * kept and read live, except `maxFrameBytes` and `maxConnections`, read now: at most
   * `maxConnections` links at once, more are closed on arrival (UDP: not opened) and logged. */
  listen(addr: NetAddr, accept: (link: Link) => LinkHandlers, limits: TransportLimits): Promise<Listener>;
}
