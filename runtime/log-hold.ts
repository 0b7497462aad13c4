/**
 * Log entries kept in memory while a script has not named its service yet (log.ts): once
 * StartLocalService names it they go to that service's file, so rooms started from one room.ts
 * get a file each, their first lines included. Bounded in entries and characters; an entry that
 * does not fit is refused, and the caller then writes the lot to the script's file instead
 * (nothing is dropped).
 * @internal
 */

/** The most entries held. */
export const MAX_HELD_LINES = 1000;
/** The most characters held (time stamps, levels, messages, fields and stacks). */
export const MAX_HELD_CHARS = 1024 * 1024;

export class HeldLines {
  private readonly heads: string[] = [];
  private readonly texts: string[] = [];
  private chars = 0;

  get size(): number {
    return this.heads.length;
  }

  /** Hold one entry: `head` is its time and level, `text` the rest after the writer's name.
   * False, holding nothing, if it would pass either bound. */
  add(head: string, text: string): boolean {
    const chars = head.length + text.length;
    if (this.heads.length >= MAX_HELD_LINES || this.chars + chars > MAX_HELD_CHARS) return false;
    this.heads.push(head);
    this.texts.push(text);
    this.chars += chars;
    return true;
  }

  /** Every entry held, oldest first, as file lines written by `who`; the hold is empty after. */
  take(who: string): string[] {
    const lines = this.heads.map((head, i) => `${head}${who} ${this.texts[i]}\n`);
    this.heads.length = 0;
    this.texts.length = 0;
    this.chars = 0;
    return lines;
  }
}
