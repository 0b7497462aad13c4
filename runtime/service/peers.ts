/**
 * Outgoing connections, one per remote service name: opened on first use (concurrent first sends
 * share one connect), reused, and reopened after a drop. A's calls and messages to B, and A's
 * replies to B's calls, all travel on A's connection to B's listener.
 * @internal
 */
import { formatAddr, type NetAddr, type SocketType } from "../../stdlib/net.js";
import { RPCError } from "../errors.js";
import { log } from "../log.js";
import { streamTransport } from "../transport/stream.js";
import { UDP_FRAME_LIMIT, udpTransport } from "../transport/udp.js";
import type { Transport } from "../transport/types.js";
import { encode, PROTOCOL_VERSION, Type } from "../wire/envelope.js";
import { config } from "./config.js";
import { Conn, onConnClosed } from "./conn.js";
import { local } from "./local.js";
import { PeerLostError } from "./presence.js";
import { failPeer } from "./sessions.js";

/** Where a service listens, and how to talk to it there. */
export interface Endpoint {
  addr: NetAddr;
  type: SocketType;
}

type Resolver = (name: string) => Promise<Endpoint | null>;
let resolve: Resolver = async () => null;

/** How names become addresses (the registry sets this). */
export function setResolver(resolver: Resolver): void {
  resolve = resolver;
}

export function transportFor(type: SocketType): Transport {
  return type === "dgram" ? udpTransport : streamTransport;
}

export class Peer {
  conn: Conn | null = null;
  /** Calls to this peer waiting for replies (see config.maxPendingCalls). */
  pending = 0;
  private connecting: Promise<Conn> | null = null;
  /** Frames sent while not connected (replies, messages), flushed on connect. */
  private backlog: Uint8Array[] = [];

  /** `fixed`: the address is given (the name service), not looked up by name. */
  constructor(readonly name: string, public endpoint: Endpoint | null, readonly fixed: boolean) {}

  /** The largest frame this peer's link carries (before connecting: what its transport allows). */
  get maxFrame(): number {
    if (this.conn !== null) return this.conn.link.maxFrame;
    return this.endpoint?.type === "dgram" ? Math.min(config.maxFrameBytes, UDP_FRAME_LIMIT) : config.maxFrameBytes;
  }

  /** False when frames to this peer may be lost (UDP). */
  get reliable(): boolean {
    return this.endpoint?.type !== "dgram";
  }

  /**
   * The open connection, or one being opened (given up after `peerTimeout` or `rpcTimeout`,
   * whichever is shorter, so a host that stopped answering is looked up again on the next try).
   * Rejects with an RPCError "unavailable".
   */
  connect(): Promise<Conn> {
    if (this.conn !== null) return Promise.resolve(this.conn);
    return (this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    }));
  }

  /** Send a frame now, or as soon as connected; dropped (and logged) if the connect fails. */
  send(body: Uint8Array): void {
    if (this.conn !== null) return this.conn.link.send(body);
    if (this.backlog.push(body) > 1) return; // already waiting for the connect
    this.connect().catch((error: Error) => {
      log.warn(`dropped ${this.backlog.length} frame(s) for ${this.name}: ${error.message}`);
      this.backlog = [];
    });
  }

  private async open(): Promise<Conn> {
    const endpoint = this.endpoint ?? (await resolve(this.name));
    if (endpoint === null) throw new RPCError("unavailable", `no service named "${this.name}" is registered`);
    const { addr, type } = endpoint;
    const conn = new Conn(this);
    try {
      conn.link = await transportFor(type).connect(addr, conn, { limits: config, timeoutMs: Math.min(config.peerTimeout, config.rpcTimeout), greeting: encode([Type.HELLO, PROTOCOL_VERSION, local.name, local.addr, process.pid, local.addr === null ? null : local.type]) });
    } catch (error) {
      if (!this.fixed) this.endpoint = null;
      throw new RPCError("unavailable", `cannot reach ${this.name} at ${formatAddr(addr)}: ${(error as Error).message}`);
    }
    this.endpoint = endpoint;
    this.conn = conn;
    for (const body of this.backlog) conn.link.send(body);
    this.backlog = [];
    log.debug(`connected to ${this.name} at ${formatAddr(addr)}`);
    return conn;
  }

  /** The connection dropped: fail the calls waiting on it; the next use reconnects. */
  dropped(conn: Conn, error?: Error): void {
    if (this.conn !== conn) return;
    this.conn = null;
    if (!this.fixed) this.endpoint = null; // look the name up again: it may have moved
    const why = error === undefined ? "" : `: ${error.message}`;
    failPeer(this, () => new RPCError("disconnected", `the connection to ${this.name} dropped during the call${why}`));
  }
}

const peers = new Map<string, Peer>();

/** The peer for a service name, looked up through the registry on first connect. */
export function peerNamed(name: string): Peer {
  let peer = peers.get(name);
  if (peer === undefined) peers.set(name, (peer = new Peer(name, null, false)));
  return peer;
}

/**
 * The registry says `name` is gone (its registration ended): close the connection to it, so calls
 * waiting on it fail now as `disconnected` rather than at their deadline (a host that went
 * silent sends no reset), and the next call looks the name up again.
 */
export function nameGone(name: string, why: string): void {
  const conn = peers.get(name)?.conn;
  if (conn != null && !conn.link.closed) conn.link.close(new PeerLostError("gone from the registry", why));
}

/** A peer at a fixed stream address outside the name table (the name service). */
export function peerFixed(label: string, addr: NetAddr): Peer {
  return new Peer(label, { addr, type: "stream" }, true);
}

onConnClosed((conn, error) => conn.peer?.dropped(conn, error));
