/**
 * A connection as the service layer sees it: a transport link plus who is at the other end.
 * Outgoing connections belong to a Peer (we dialed it); incoming ones learn their peer from the
 * HELLO frame that must come first.
 * @internal
 */
import { stopping } from "../lifecycle.js";
import { log, warnEverySecond } from "../log.js";
import { badName } from "../names.js";
import { HANDSHAKE_TIMEOUT_MS, NO_SECRET } from "../security/handshake.js";
import type { Link, LinkHandlers } from "../transport/types.js";
import { decode, decodedCost, encode, ProtocolError, Type, type Envelope } from "../wire/envelope.js";
import { LinkLimitError } from "../wire/frame.js";
import { config } from "./config.js";
import type { Peer } from "./peers.js";
import { PeerLostError, presence } from "./presence.js";

/** `cost`: what the frame takes once decoded (wire/cbor-subset.ts), for the queues bounded in bytes. */
type Dispatch = (conn: Conn, envelope: Envelope, cost: number) => void;
type Closed = (conn: Conn, error?: Error) => void;
let dispatch: Dispatch = () => {};
let closedHandlers: Closed[] = [];

/** Every open connection, so shutdown can flush and close them. */
const open = new Set<Conn>();

/**
 * Liveness of the links we dialed. Traffic on them is mostly one way (replies come back on the
 * peer's own connection to us), so silence proves nothing by itself: each outgoing link that has
 * heard nothing for a second (or a quarter of peerTimeout) sends PING, which the accepting side
 * answers (a receiver that paused the link, its mailbox full, sends PING on it unasked). One
 * silent for `config.peerTimeout` is closed: its calls fail `disconnected` at once, and the next
 * use looks the name up again, rather than waiting minutes for TCP to give up.
 *
 * The same sweep closes accepted links on which nothing at all arrived for `config.idleTimeout`
 * (a link we stopped reading counts as heard from), and any link with a frame that began to
 * arrive more than `config.frameTimeout` ago and is still incomplete.
 */
const PING_BODY = encode([Type.PING]);
const SWEEP_MS = 250;
let sweeping: NodeJS.Timeout | null = null;
let lastSweep = 0;

function sweep(): void {
  const now = performance.now();
  // If this process itself was stalled, what came in meanwhile is still unread: judge next time.
  const stalled = now - lastSweep > 2000;
  lastSweep = now;
  for (const conn of open) {
    const link = conn.link;
    if (link.closed) continue;
    const partial = link.partialSince ?? 0;
    if (partial > 0 && now - partial > config.frameTimeout && !stalled) {
      slowFrame();
      link.close(new LinkLimitError(`a frame began to arrive ${Math.round(now - partial)} ms ago and is not complete (luanet.Configure({ frameTimeout: ${config.frameTimeout} }))`));
      continue;
    }
    if (!conn.outgoing) {
      // A receiver that stopped reading a link (its mailbox is full) still says it is alive.
      if (link.paused) {
        conn.lastSeen = now;
        link.send(PING_BODY);
      } else if (now - conn.lastSeen > config.idleTimeout && !stalled) {
        idle();
        link.close(new IdleError(`nothing arrived for ${Math.round(now - conn.lastSeen)} ms (luanet.Configure({ idleTimeout: ${config.idleTimeout} }))`));
      }
      continue;
    }
    const silent = now - conn.lastSeen;
    if (silent > config.peerTimeout && !stalled) link.close(new PeerLostError("timeout", `no answer for ${Math.round(silent)} ms: the peer or the network is down`));
    else if (silent >= Math.min(1000, config.peerTimeout / 4)) link.send(PING_BODY);
  }
}

/** An accepted link closed for silence: counted in one rate-limited warning, not one each. */
class IdleError extends PeerLostError {
  constructor(message: string) {
    super("timeout", message);
  }
}

const idle = warnEverySecond((n) => `closed ${n} connection(s) idle for over ${config.idleTimeout} ms (luanet.Configure({ idleTimeout }))`);
const slowFrame = warnEverySecond((n) => `closed ${n} connection(s) with a frame still incomplete after ${config.frameTimeout} ms (luanet.Configure({ frameTimeout }))`);

/** Answer a PING that came in on a link the peer dialed; see `sweep`. */
export function pong(conn: Conn): void {
  if (!conn.outgoing) conn.link.send(PING_BODY);
}

/**
 * Close every connection gracefully and wait, at most `ms`, until each socket has closed: what a
 * slow receiver has not read yet is still queued in this process, and exiting drops it.
 */
export async function closeAll(ms: number): Promise<void> {
  const links = [...open].map((conn) => conn.link);
  if (links.length === 0) return;
  for (const link of links) link.close();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([Promise.all(links.map((link) => link.finished())), bound]);
  clearTimeout(timer);
}

/** Wired once by the service layer (dispatch.ts), to keep this module free of import cycles. */
export function setDispatch(handler: Dispatch): void {
  dispatch = handler;
}

/** Called for every connection that closes, incoming or outgoing. */
export function onConnClosed(handler: Closed): void {
  closedHandlers.push(handler);
}

export class Conn implements LinkHandlers {
  private _link!: Link;
  /** The peer's service name (null: a process with no service), from HELLO or our Peer. */
  peerName: string | null;
  /** On links that lose frames (UDP): replies to recent calls by id, null while still running. */
  recent: Map<number, Uint8Array | null> | null = null;
  private greeted: boolean;
  /** Counted in `presence` (a named peer, link open). */
  private present = false;
  private helloTimer: NodeJS.Timeout | null = null;
  /** performance.now() of the last frame received. */
  lastSeen = performance.now();

  constructor(readonly peer: Peer | null) {
    this.peerName = peer?.name ?? null;
    this.greeted = peer !== null; // we dialed: the other side owes us no HELLO
  }

  get link(): Link {
    return this._link;
  }
  set link(link: Link) {
    this._link = link;
    this.lastSeen = performance.now();
    open.add(this);
    if (this.peer !== null && !this.peer.fixed) this.arrived();
    if (sweeping === null) {
      lastSweep = performance.now();
      sweeping = setInterval(sweep, SWEEP_MS).unref();
    }
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
      if (this.peerName !== null) this.arrived();
      return;
    }
    dispatch(this, envelope, decodedCost());
  }

  private arrived(): void {
    presence.opened(this.peerName!);
    this.present = true;
  }

  onClose(error?: Error): void {
    open.delete(this);
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    const what = `connection ${this.outgoing ? "to" : "from"} ${this.describe()} closed`;
    // A close for a limit was counted in a rate-limited warning already.
    if (error !== undefined && !isOrdinaryDrop(error) && !(error instanceof LinkLimitError) && !(error instanceof IdleError)) log.warn(`${what}: ${error.message}`);
    else if (this.peerName !== null && !stopping()) log.info(what); // at our own shutdown every link closes: not news
    else log.debug(what);
    for (const handler of closedHandlers) handler(this, error);
    // The peer we dialed went silent or left the registry: the links it dialed to us are as
    // dead (a frozen host sends no reset), so they go too, and onDisconnected fires now.
    if (this.outgoing && error instanceof PeerLostError && this.present) {
      for (const conn of open) if (!conn.outgoing && conn.peerName === this.peerName) conn.link.close(error);
    }
    if (this.present) presence.closed(this.peerName!, error);
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
