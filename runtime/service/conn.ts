/**
 * A connection as the service layer sees it: a transport link, the service it belongs to, and who
 * is at the other end. Outgoing connections belong to a Peer (the service dialed it); incoming
 * ones learn their peer from the HELLO frame that must come first.
 * @internal
 */
import { badName } from "../names.js";
import { HANDSHAKE_TIMEOUT_MS, NO_SECRET } from "../security/handshake.js";
import type { PeerCounters } from "../stats/counters.js";
import type { Link, LinkHandlers } from "../transport/types.js";
import { decode, decodedCost, ProtocolError, Type } from "../wire/envelope.js";
import { LinkLimitError } from "../wire/frame.js";
import type { PeerFeatures } from "./features.js";
import { IdleError, PING_BODY } from "./links.js";
import type { Peer } from "./peers.js";
import { PeerLostError } from "./presence.js";
import type { Service } from "./service.js";

export class Conn implements LinkHandlers {
  /** The peer's service name (null: a process with no service), from HELLO or our Peer. */
  peerName: string | null;
  /** On links that lose frames (UDP): replies to recent calls by id, null while still running. */
  recent: Map<number, Uint8Array | null> | null = null;
  private greeted: boolean;
  /** Counted in the service's presence (a named peer, link open). */
  private present = false;
  private helloTimer: NodeJS.Timeout | null = null;
  /** performance.now() of the last frame received. */
  lastSeen = performance.now();
  /** Its peer's counters (stats/counters.ts), once the peer is known (HELLO, or our Peer). */
  counters: PeerCounters | null = null;
  /** What the peer we dialed takes beyond the base protocol, once a traced call asked (features.ts). */
  features: PeerFeatures | null = null;

  /** `peer`: the Peer we dialed, or null for a link the service's listener accepted. */
  constructor(readonly service: Service, readonly link: Link, readonly peer: Peer | null) {
    this.peerName = peer?.name ?? null;
    this.greeted = peer !== null; // we dialed: the other side owes us no HELLO
    if (peer !== null) this.counters = peer.counters;
    service.runtime.links.add(this);
    if (peer !== null && !peer.fixed) this.arrived();
    if (!this.greeted) {
      this.helloTimer = setTimeout(() => link.close(new Error(`no HELLO within ${HANDSHAKE_TIMEOUT_MS} ms`)), HANDSHAKE_TIMEOUT_MS).unref();
    }
  }

  get outgoing(): boolean {
    return this.peer !== null;
  }

  onFrame(body: Buffer): void {
    this.lastSeen = performance.now();
    const envelope = decode(body);
    if (!this.greeted) {
      if (envelope[0] === Type.CHALLENGE) throw new ProtocolError(NO_SECRET);
      if (envelope[0] !== Type.HELLO) throw new ProtocolError("the first frame on a connection must be HELLO");
      const refused = envelope[2] === null ? null : badName(envelope[2]);
      if (refused !== null) throw new ProtocolError(`HELLO refused: ${refused}`);
      this.greeted = true;
      if (this.helloTimer !== null) clearTimeout(this.helloTimer);
      this.peerName = envelope[2]; // a label for ctx.from and logs: it routes nothing
      this.counters = this.service.counters.peer(this.peerName);
      if (this.peerName !== null) this.arrived();
      return;
    }
    this.service.receive(this, envelope, decodedCost());
  }

  /** Answer a PING that came in on a link the peer dialed; see links.ts. */
  pong(): void {
    if (!this.outgoing) this.link.send(PING_BODY);
  }

  private arrived(): void {
    this.service.presence.opened(this.peerName!);
    this.present = true;
  }

  onClose(error?: Error): void {
    const service = this.service;
    service.runtime.links.delete(this);
    if (this.counters !== null) {
      this.counters.bytesIn += this.link.bytesIn;
      this.counters.bytesOut += this.link.bytesOut;
    }
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    const what = `connection ${this.outgoing ? "to" : "from"} ${this.describe()} closed`;
    // A close for a limit was counted in a rate-limited warning already.
    if (error !== undefined && !isOrdinaryDrop(error) && !(error instanceof LinkLimitError) && !(error instanceof IdleError)) service.log.warn(`${what}: ${error.message}`);
    else if (this.peerName !== null && !service.stopping) service.log.info(what); // at our own shutdown every link closes: not news
    else service.log.debug(what);
    this.peer?.dropped(this, error);
    service.connClosed(this, error);
    // The peer we dialed went silent or left the registry: the links it dialed to us are as
    // dead (a frozen host sends no reset), so they go too, and onDisconnected fires now.
    if (this.outgoing && error instanceof PeerLostError && this.present) {
      for (const conn of service.runtime.links.where((c) => c.service === service && !c.outgoing && c.peerName === this.peerName)) conn.link.close(error);
    }
    if (this.present) service.presence.closed(this.peerName!, error);
  }

  describe(): string {
    return `${this.peerName ?? "an unnamed process"} (${this.link.remote})`;
  }
}

/** A peer going away (reset, broken pipe) is routine; say so at debug level only. */
function isOrdinaryDrop(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ECONNRESET" || code === "EPIPE";
}
