/**
 * The queue between the main thread and the log writer thread: one SharedArrayBuffer holding a
 * ring of UTF-8 bytes (whole lines only) and a few Int32 counters. The main thread is the only
 * producer, the writer the only consumer, so two counters and Atomics are all the locking needed.
 *
 *   control (Int32Array at byte 0)             data (bytes 64 .. 64 + capacity)
 *   [HEAD]     bytes ever written (mod 2^32)   ring; byte n lives at n % capacity
 *   [TAIL]     bytes ever written to disk
 *   [SLEEPING] 1 while the writer waits for HEAD to move
 *   [FAILED]   1 once the writer cannot write (it says why in a message)
 *   [STARTED]  1 once the writer thread runs (its start-up is not "stuck")
 *
 * Memory is bounded by `capacity`. When a burst fills the ring the logging call waits for the
 * writer to make room (the disk is fast; nothing is lost); only if the writer makes no progress
 * for STUCK_MS are lines dropped, counted, and the count logged once room returns.
 * @internal
 */
export const HEAD = 0, TAIL = 1, SLEEPING = 2, FAILED = 3, STARTED = 4;
export const CONTROL_BYTES = 64;
const STUCK_MS = 1000;
/** How long a full ring waits for a writer thread that has not started yet. */
const BOOT_MS = 10_000;

export class LogRing {
  readonly control: Int32Array;
  private readonly data: Buffer;
  private scratch = Buffer.allocUnsafe(4096);
  /** Lines dropped while the writer was stuck, not yet reported. */
  dropped = 0;
  /** TAIL when the writer was last found stuck. */
  private stuckAt = -1;

  constructor(readonly sab: SharedArrayBuffer, readonly capacity: number) {
    this.control = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.data = Buffer.from(sab, CONTROL_BYTES, capacity);
  }

  /** A ring of at least `bytes`, rounded up to a power of two so positions survive the
   * counters' wrap at 2^32. */
  static create(bytes: number): LogRing {
    let capacity = 4096;
    while (capacity < bytes) capacity *= 2;
    return new LogRing(new SharedArrayBuffer(CONTROL_BYTES + capacity), capacity);
  }

  /** Queue one line (with its newline). Returns false if it had to be dropped. */
  push(line: string): boolean {
    const head = Atomics.load(this.control, HEAD);
    const at = (head >>> 0) % this.capacity;
    const most = line.length * 3; // UTF-8 bytes at most
    let n: number;
    if (most <= this.capacity - at) {
      if (!this.waitForRoom(head, most)) return this.drop();
      n = this.data.write(line, at); // straight into the ring: the common case
    } else { // near the end of the ring: through the scratch buffer, in two parts
      if (most > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(most, this.scratch.length * 2));
      n = Math.min(this.scratch.write(line), this.capacity);
      if (!this.waitForRoom(head, n)) return this.drop();
      const first = Math.min(n, this.capacity - at);
      this.scratch.copy(this.data, at, 0, first);
      if (first < n) this.scratch.copy(this.data, 0, first, n);
    }
    Atomics.store(this.control, HEAD, (head + n) | 0);
    if (Atomics.load(this.control, SLEEPING) === 1) Atomics.notify(this.control, HEAD);
    return true;
  }

  private drop(): false {
    this.dropped++;
    return false;
  }

  /** Bytes queued and not yet on disk. */
  pending(): number {
    return (Atomics.load(this.control, HEAD) - Atomics.load(this.control, TAIL)) >>> 0;
  }

  private waitForRoom(head: number, n: number): boolean {
    let tail = Atomics.load(this.control, TAIL);
    if (this.capacity - ((head - tail) >>> 0) >= n) return true;
    if (Atomics.load(this.control, FAILED) === 1) return false;
    if (this.dropped > 0 && tail === this.stuckAt) return false; // still stuck: don't wait again
    const until = performance.now() + (Atomics.load(this.control, STARTED) === 1 ? STUCK_MS : BOOT_MS);
    for (;;) {
      const left = until - performance.now();
      if (left <= 0) {
        this.stuckAt = tail;
        return false;
      }
      Atomics.wait(this.control, TAIL, tail, left);
      const moved = Atomics.load(this.control, TAIL);
      if (this.capacity - ((head - moved) >>> 0) >= n) return true;
      if (moved !== tail) return this.waitForRoom(head, n); // progress: a fresh STUCK_MS
      tail = moved;
    }
  }

  /** Block until everything queued is on disk, at most `ms`. Returns whether it got there. */
  drain(ms: number): boolean {
    const head = Atomics.load(this.control, HEAD);
    const until = performance.now() + ms;
    for (;;) {
      const tail = Atomics.load(this.control, TAIL);
      if (tail === head || Atomics.load(this.control, FAILED) === 1) return tail === head;
      const left = until - performance.now();
      if (left <= 0) return false;
      if (Atomics.load(this.control, SLEEPING) === 1) Atomics.notify(this.control, HEAD);
      Atomics.wait(this.control, TAIL, tail, Math.min(left, 50));
    }
  }
}
