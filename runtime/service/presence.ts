/**
 * Which named peers a service is connected to, for `onDisconnected`. Between two services
 * there are usually two links (each dials the other's listener), so a peer counts as here while
 * any link to or from its name is open, and as gone once the last one closes: one callback per
 * departure, with the reason the last link closed for. Nothing is reported once this process's
 * own shutdown (or the service's own stop) has begun: every link closes then, and no peer has gone
 * anywhere.
 * @internal
 */
import type { Logger } from "../log.js";

/** Why a peer went away, as `onDisconnected(peer, reason)` reports it. */
export type DisconnectReason = "closed" | "timeout" | "gone from the registry";

/** The callback a service gives StartLocalService. */
export type DisconnectHandler = (peer: string, reason: DisconnectReason) => void;

/** A link the service layer closed on purpose, carrying the reason onDisconnected reports. */
export class PeerLostError extends Error {
  constructor(readonly reason: DisconnectReason, message: string) {
    super(message);
  }
}

export class Presence {
  private readonly links = new Map<string, number>();
  handler: DisconnectHandler | null = null;

  /** `stopping`: true once the service (or the process) is stopping. */
  constructor(private readonly stopping: () => boolean, private readonly log: Logger) {}

  /** A link to or from `peer` is open. */
  opened(peer: string): void {
    this.links.set(peer, (this.links.get(peer) ?? 0) + 1);
  }

  /** A link counted by `opened` closed, with `error` (undefined: an orderly close). */
  closed(peer: string, error: Error | undefined): void {
    const left = (this.links.get(peer) ?? 1) - 1;
    if (left > 0) return void this.links.set(peer, left);
    this.links.delete(peer);
    if (this.stopping() || this.handler === null) return;
    const reason = error instanceof PeerLostError ? error.reason : "closed";
    try {
      this.handler(peer, reason);
    } catch (thrown) {
      this.log.error(`the onDisconnected callback threw for ${peer} (${reason})`, { error: thrown as Error });
    }
  }
}
