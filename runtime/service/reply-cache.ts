/**
 * Replies to recent calls that came over links that lose frames (UDP), kept so that a resent call
 * is answered again rather than run twice. Each link keeps its own map (Conn.recent); this is the
 * process-wide budget over all of them, in bytes and in count, oldest forgotten first.
 * @internal
 */
import type { Conn } from "./conn.js";

/** Calls remembered per lossy link, for answering resent calls (and never running one twice). */
export const RECENT_REPLIES = 1024;
/** Bytes of replies kept over all lossy links, for answering resent calls. */
export const RECENT_REPLY_BYTES = 16 * 1024 * 1024;
const RECENT_REPLIES_KEPT = 262_144;

export class ReplyCache {
  // Oldest first, in three arrays (no object per reply): the link, the call id, the reply's size.
  private readonly conns: (Conn | undefined)[] = [];
  private readonly ids: number[] = [];
  private readonly sizes: number[] = [];
  private head = 0;
  private bytes = 0;

  /** Remember `body` as the reply to `id` on `conn`, forgetting the oldest kept past the budget. */
  keep(conn: Conn, id: number, body: Uint8Array): void {
    conn.recent!.set(id, body);
    this.conns.push(conn);
    this.ids.push(id);
    this.sizes.push(body.length);
    this.bytes += body.length;
    while (this.bytes > RECENT_REPLY_BYTES || this.conns.length - this.head > RECENT_REPLIES_KEPT) {
      const old = this.conns[this.head]!;
      this.conns[this.head] = undefined;
      this.bytes -= this.sizes[this.head]!;
      const oldId = this.ids[this.head++]!;
      if (old.recent?.has(oldId)) old.recent.set(oldId, null);
    }
    if (this.head > 1024 && this.head * 2 > this.conns.length) {
      for (const kept of [this.conns, this.ids, this.sizes] as unknown[][]) kept.splice(0, this.head);
      this.head = 0;
    }
  }
}
