/**
 * A service's connection to a name service, as the registry client uses it (registry/types.ts
 * NameServiceLink): calls over the service's own fixed peer, heartbeats, and word when it drops.
 * @internal
 */
import type { NetAddr } from "../../stdlib/net.js";
import type { NameServiceLink } from "../registry/types.js";
import { call } from "./call.js";
import { PING_BODY } from "./links.js";
import type { Peer } from "./peers.js";
import type { Service } from "./service.js";

export class NameServiceConnection implements NameServiceLink {
  private readonly peer: Peer;
  private readonly lost: (() => void)[] = [];

  constructor(service: Service, addr: NetAddr) {
    this.peer = service.peers.fixed("nameservice", addr);
    service.onConnClosed((conn) => {
      if (conn.peer === this.peer) for (const fn of this.lost) fn();
    });
  }

  call(func: string, args: unknown, timeoutMs: number) {
    return call(this.peer, func, args, timeoutMs);
  }

  connection(): object | null {
    return this.peer.conn;
  }

  heartbeat(): void {
    this.peer.conn?.link.send(PING_BODY);
  }

  onLost(fn: () => void): void {
    this.lost.push(fn);
  }

  close(why: string): void {
    this.peer.conn?.link.close(new Error(why));
  }
}
