/**
 * A service's outgoing connections, one per remote service name: opened on first use (concurrent
 * first calls share one connect), reused, and reopened after a drop. A's calls and messages to B,
 * and A's replies to B's calls, all travel on A's connection to B's listener. Each service of a
 * process dials on its own behalf (its HELLO names it), so the other side sees who calls.
 * @internal
 */
import { formatAddr, type NetAddr, type SocketType } from "../../stdlib/net.js";
import { RPCError } from "../errors.js";
import { streamTransport } from "../transport/stream.js";
import { UDP_FRAME_LIMIT, udpTransport } from "../transport/udp.js";
import type { Transport } from "../transport/types.js";
import { encode, PROTOCOL_VERSION, Type } from "../wire/envelope.js";
import { Conn } from "./conn.js";
import { PING_BODY } from "./links.js";
import { PeerLostError } from "./presence.js";
import type { Service } from "./service.js";
import type { SessionTable } from "./sessions.js";
import type { PeerCounters } from "../stats/counters.js";

/** Where a service listens, and how to talk to it there. */
export interface Endpoint {
  addr: NetAddr;
  type: SocketType;
}

export function transportFor(type: SocketType): Transport {
  return type === "dgram" ? udpTransport : streamTransport;
}

/** How long a peer the registry says is gone, with calls waiting, has to answer a PING. */
const GONE_PROBE_MS = 1000;

export class Peer {
  conn: Conn | null = null;
  /** Calls to this peer waiting for replies (see maxPendingCalls). */
  pending = 0;
  /** Calls the whole process has in flight to this name (group.ts least-pending counts them). */
  readonly load: { n: number };
  /** The service's counters for this name (stats/counters.ts). */
  readonly counters: PeerCounters;
  private connecting: Promise<Conn> | null = null;

  /** Whether calls to it carry their trace context: not to the name service, whose calls are
   * luanet's own (service/features.ts). */
  readonly traced: boolean;

  /** `fixed`: the address is given (the name service), not looked up by name. */
  constructor(readonly service: Service, readonly name: string, public endpoint: Endpoint | null, readonly fixed: boolean) {
    this.traced = !fixed;
    this.load = service.runtime.inFlight.counter(name);
    this.counters = service.counters.peer(name);
  }

  get sessions(): SessionTable {
    return this.service.sessions;
  }

  /** The largest frame this peer's link carries (before connecting: what its transport allows). */
  get maxFrame(): number {
    if (this.conn !== null) return this.conn.link.maxFrame;
    const max = this.service.config.maxFrameBytes;
    return this.endpoint?.type === "dgram" ? Math.min(max, UDP_FRAME_LIMIT) : max;
  }

  /** False when frames to this peer may be lost (UDP). */
  get reliable(): boolean {
    return this.endpoint?.type !== "dgram";
  }

  /**
   * The open connection, or one being opened to `endpoint` (given up after `peerTimeout` or
   * `rpcTimeout`, whichever is shorter, so a host that stopped answering is looked up again on
   * the next try). Rejects with an RPCError "unavailable".
   */
  connect(endpoint: Endpoint): Promise<Conn> {
    if (this.conn !== null) return Promise.resolve(this.conn);
    return (this.connecting ??= this.open(endpoint).finally(() => {
      this.connecting = null;
    }));
  }

  private async open(endpoint: Endpoint): Promise<Conn> {
    const { addr, type } = endpoint;
    const service = this.service;
    const config = service.config;
    const hello = encode([Type.HELLO, PROTOCOL_VERSION, service.named, service.addr, process.pid, service.addr === null ? null : service.type]);
    let conn!: Conn;
    try {
      await transportFor(type).connect(addr, (link) => (conn = new Conn(service, link, this)), {
        limits: config, timeoutMs: Math.min(config.peerTimeout, config.rpcTimeout), greeting: hello,
      });
    } catch (error) {
      if (!this.fixed) this.endpoint = null;
      throw new RPCError("unavailable", `cannot reach ${this.name} at ${formatAddr(addr)}: ${(error as Error).message}`);
    }
    this.endpoint = endpoint;
    this.conn = conn;
    this.counters.connects++;
    service.log.debug(`connected to ${this.name} at ${formatAddr(addr)}`);
    return conn;
  }

  /** The connection dropped: fail the calls waiting on it; the next use reconnects. */
  dropped(conn: Conn, error?: Error): void {
    if (this.conn !== conn) return;
    this.conn = null;
    if (!this.fixed) this.endpoint = null; // look the name up again: it may have moved
    const why = error === undefined ? "" : `: ${error.message}`;
    this.sessions.failPeer(this, () => new RPCError("disconnected", `the connection to ${this.name} dropped during the call${why}`));
  }
}

export class PeerTable {
  private readonly peers = new Map<string, Peer>();
  private readonly fixedPeers = new Map<string, Peer>();

  constructor(private readonly service: Service) {}

  /** Every peer it has dialed or will dial, by name, and those at fixed addresses. */
  all(): Peer[] {
    return [...this.peers.values(), ...this.fixedPeers.values()];
  }

  /** The peer for a service name, looked up through the registry on first connect. */
  named(name: string): Peer {
    let peer = this.peers.get(name);
    if (peer === undefined) this.peers.set(name, (peer = new Peer(this.service, name, null, false)));
    return peer;
  }

  /** A peer at a fixed stream address outside the name table (the name service), one per address. */
  fixed(label: string, addr: NetAddr): Peer {
    const key = formatAddr(addr);
    let peer = this.fixedPeers.get(key);
    if (peer === undefined) this.fixedPeers.set(key, (peer = new Peer(this.service, label, { addr, type: "stream" }, true)));
    return peer;
  }

  /**
   * The registry says `name` is gone (its registration ended): close the connection to it, so
   * calls waiting on it fail now as `disconnected` rather than at their deadline (a host that
   * went silent sends no reset), and the next call looks the name up again. With calls waiting,
   * it is first asked whether it is still there (a PING): one that left on purpose (a drain)
   * answers, and keeps the connection while it finishes them (it closes it when it exits).
   */
  nameGone(name: string, why: string): void {
    const peer = this.peers.get(name);
    const conn = peer?.conn;
    if (conn == null || conn.link.closed) return;
    const lost = () => conn.link.close(new PeerLostError("gone from the registry", why));
    if (peer!.pending === 0) return lost();
    const seen = conn.lastSeen;
    conn.link.send(PING_BODY);
    setTimeout(() => {
      if (conn.link.closed) return;
      if (conn.lastSeen === seen) return lost();
      // It answers: close once its calls are answered, so no new call goes to a service that left
      // (the link sweep closes it meanwhile if it goes silent for peerTimeout).
      const check = setInterval(() => {
        if (conn.link.closed) clearInterval(check);
        else if (peer!.conn !== conn || peer!.pending === 0) {
          clearInterval(check);
          lost();
        }
      }, GONE_PROBE_MS / 10).unref();
    }, GONE_PROBE_MS).unref();
  }
}
