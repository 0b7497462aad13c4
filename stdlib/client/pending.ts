/**
 * The requests (and AUTHs) of one connection that await their answer: ids, deadlines, and the
 * bound on their number. Ids count up from 1 through 2^32 - 1 and wrap, skipping any still
 * pending: an id is not used again soon, so a late answer to a request that timed out finds no
 * request (and is dropped) rather than a newer one that took its id.
 */
import { ClientError } from "./error.js";
import { MAX_ID } from "./frames.js";

/** `[result, null]` or `[null, err]`, as luanet.RPCCall gives. */
export type Reply<T = unknown> = [T, null] | [null, ClientError];

/** The longest a timer can wait (setTimeout fires at once past it). */
export const MAX_TIMER_MS = 0x7fff_ffff;

interface Entry {
  readonly resolve: (reply: Reply) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class PendingRequests {
  private readonly entries = new Map<number, Entry>();
  private last = 0;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  get full(): boolean {
    return this.entries.size >= this.max;
  }

  /** A new id and the promise its answer settles; `what` names it in the timeout's message. The
   * caller checks `full` first. */
  add(timeoutMs: number, what: string): { id: number; reply: Promise<Reply> } {
    let id = this.last;
    do id = id >= MAX_ID ? 1 : id + 1;
    while (this.entries.has(id));
    this.last = id;
    let resolve!: (reply: Reply) => void;
    const reply = new Promise<Reply>((r) => (resolve = r));
    const timer = setTimeout(() => {
      this.entries.delete(id);
      resolve([null, new ClientError("timeout", `${what}: no answer from the gate within ${timeoutMs} ms`)]);
    }, Math.min(timeoutMs, MAX_TIMER_MS));
    this.entries.set(id, { resolve, timer });
    return { id, reply };
  }

  /** Answer `id`; false if no request has it (it timed out already: the answer is dropped). */
  settle(id: number, reply: Reply): boolean {
    const entry = this.entries.get(id);
    if (entry === undefined) return false;
    this.entries.delete(id);
    clearTimeout(entry.timer);
    entry.resolve(reply);
    return true;
  }

  /** Fail every pending request with `err` (the connection dropped). */
  failAll(err: ClientError): void {
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.resolve([null, err]);
    }
  }
}
