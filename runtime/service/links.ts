/**
 * Every open connection of the process, and the sweep that keeps them honest.
 *
 * Liveness of the links we dialed. Traffic on them is mostly one way (replies come back on the
 * peer's own connection to us), so silence proves nothing by itself: each outgoing link that has
 * heard nothing for a second (or a quarter of peerTimeout) sends PING, which the accepting side
 * answers (a receiver that paused the link, its mailbox full, sends PING on it unasked). One
 * silent for `peerTimeout` is closed: its calls fail `disconnected` at once, and the next use
 * looks the name up again, rather than waiting minutes for TCP to give up.
 *
 * The same sweep closes accepted links on which nothing at all arrived for `idleTimeout` (a link
 * we stopped reading counts as heard from), and any link with a frame that began to arrive more
 * than `frameTimeout` ago and is still incomplete. Each link is judged by the limits of the
 * service it belongs to.
 * @internal
 */
import { warnEverySecond } from "../log.js";
import { LinkLimitError } from "../wire/frame.js";
import { encode, Type } from "../wire/envelope.js";
import type { Conn } from "./conn.js";
import { PeerLostError } from "./presence.js";

export const PING_BODY = encode([Type.PING]);
const SWEEP_MS = 250;

/** An accepted link closed for silence: counted in one rate-limited warning, not one each. */
export class IdleError extends PeerLostError {
  constructor(message: string) {
    super("timeout", message);
  }
}

export class Links {
  private readonly open = new Set<Conn>();
  private sweeping: NodeJS.Timeout | null = null;
  private lastSweep = 0;
  /** The limits the last closes of each kind were for, for the warnings that count them. */
  private idleMs = 0;
  private frameMs = 0;
  private readonly idle = warnEverySecond((n) => `closed ${n} connection(s) idle for over ${this.idleMs} ms (luanet.Configure({ idleTimeout }))`);
  private readonly slowFrame = warnEverySecond((n) => `closed ${n} connection(s) with a frame still incomplete after ${this.frameMs} ms (luanet.Configure({ frameTimeout }))`);

  add(conn: Conn): void {
    this.open.add(conn);
    if (this.sweeping === null) {
      this.lastSweep = performance.now();
      this.sweeping = setInterval(() => this.sweep(), SWEEP_MS).unref();
    }
  }

  delete(conn: Conn): void {
    this.open.delete(conn);
  }

  /** The open connections for which `test` holds. */
  where(test: (conn: Conn) => boolean): Conn[] {
    return [...this.open].filter(test);
  }

  private sweep(): void {
    const now = performance.now();
    // If this process itself was stalled, what came in meanwhile is still unread: judge next time.
    const stalled = now - this.lastSweep > 2000;
    this.lastSweep = now;
    for (const conn of this.open) {
      const link = conn.link;
      if (link.closed) continue;
      const config = conn.service.config;
      const partial = link.partialSince ?? 0;
      if (partial > 0 && now - partial > config.frameTimeout && !stalled) {
        this.frameMs = config.frameTimeout;
        this.slowFrame();
        link.close(new LinkLimitError(`a frame began to arrive ${Math.round(now - partial)} ms ago and is not complete (luanet.Configure({ frameTimeout: ${config.frameTimeout} }))`));
        continue;
      }
      if (!conn.outgoing) {
        // A receiver that stopped reading a link (its mailbox is full) still says it is alive.
        if (link.paused) {
          conn.lastSeen = now;
          link.send(PING_BODY);
        } else if (now - conn.lastSeen > config.idleTimeout && !stalled) {
          this.idleMs = config.idleTimeout;
          this.idle();
          link.close(new IdleError(`nothing arrived for ${Math.round(now - conn.lastSeen)} ms (luanet.Configure({ idleTimeout: ${config.idleTimeout} }))`));
        }
        continue;
      }
      const silent = now - conn.lastSeen;
      if (silent > config.peerTimeout && !stalled) link.close(new PeerLostError("timeout", `no answer for ${Math.round(silent)} ms: the peer or the network is down`));
      else if (silent >= Math.min(1000, config.peerTimeout / 4)) link.send(PING_BODY);
    }
  }

  /**
   * Close the connections for which `test` holds (all by default) gracefully and wait, at most
   * `ms`, until each socket has closed: what a slow receiver has not read yet is still queued in
   * this process, and exiting drops it.
   */
  async closeAll(ms: number, test: (conn: Conn) => boolean = () => true): Promise<void> {
    const links = this.where(test).map((conn) => conn.link);
    if (links.length === 0) return;
    for (const link of links) link.close();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([Promise.all(links.map((link) => link.finished())), bound]);
    clearTimeout(timer);
  }
}
