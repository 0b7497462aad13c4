/**
 * Framing on stream links (TCP and UNIX stream sockets).
 *
 *     +------------------------+---------------------------------------+
 *     | length: uint32, big    | body: `length` bytes, one CBOR item   |
 *     | endian, body bytes     | (an envelope, see envelope.ts)        |
 *     +------------------------+---------------------------------------+
 *
 * A frame whose length exceeds the receiver's maximum (16 MiB by default) is refused: the
 * connection is closed before the body is read. The decoder is a two-state machine (want a header,
 * want a body) that copies a body only when it spans chunks. The bytes of frames not yet complete
 * are counted over every decoder of the process, against a budget: a connection that would take
 * more is closed (LinkLimitError), so connections that send most of a large frame and stop hold
 * a bounded amount of memory, whatever their number.
 *
 * @internal
 */
import { LuanetError } from "../errors.js";

export const HEADER_BYTES = 4;

/** Raised by the decoder on a frame larger than allowed; the link closes on it. */
export class FrameTooLargeError extends LuanetError {
  constructor(readonly size: number, readonly max: number) {
    super("too_large", `frame of ${size} bytes exceeds the maximum of ${max} bytes`);
  }
}

/** A connection went past one of the process's bounds (bytes queued to send, partial frames): it
 * is closed. The layer that closes it logs it, rate-limited. */
export class LinkLimitError extends LuanetError {
  constructor(message: string) {
    super("overloaded", message);
  }
}

/** Bytes held by all decoders of this process for frames not yet complete. */
let partialBytes = 0;

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Body length of the frame being read, or -1 while reading a header. */
  private want = -1;
  /** performance.now() when the bytes buffered now began to arrive; 0 when none are. */
  partialSince = 0;

  /** `budget`: the most bytes all decoders together may hold for incomplete frames. `reused`:
   * every chunk is the same buffer, filled again by the next read (a socket's `onread`), so
   * what is held is copied out of it. */
  constructor(private readonly maxFrame: number, private readonly budget: () => number = () => Infinity, private readonly reused = false) {}

  /** Feed bytes; calls `onFrame` for every complete body, in order. Throws FrameTooLargeError,
   * or LinkLimitError when the partial frame would take the process past its budget. */
  push(chunk: Buffer, onFrame: (body: Buffer) => void): void {
    let data = chunk;
    if (this.buffered > 0) {
      const total = this.buffered + chunk.length;
      if (total < (this.want < 0 ? HEADER_BYTES : HEADER_BYTES + this.want)) {
        this.hold(this.reused ? Buffer.from(chunk) : chunk);
        return;
      }
      this.chunks.push(chunk);
      data = Buffer.concat(this.chunks, total);
      this.release();
    }
    let pos = 0;
    for (;;) {
      const left = data.length - pos;
      if (left < HEADER_BYTES) break;
      const length = data.readUInt32BE(pos);
      if (length > this.maxFrame) throw new FrameTooLargeError(length, this.maxFrame);
      if (left < HEADER_BYTES + length) {
        this.want = length;
        break;
      }
      this.want = -1;
      onFrame(data.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + length));
      pos += HEADER_BYTES + length;
    }
    if (pos < data.length) {
      // A tail is copied, so that it does not keep the whole chunk (or concatenation) alive, nor
      // get overwritten by the next read into a reused buffer.
      const rest = pos === 0 && !(this.reused && data === chunk) ? data : Buffer.from(data.subarray(pos));
      if (rest.length < HEADER_BYTES) this.want = -1;
      this.partialSince = performance.now();
      this.hold(rest);
    }
  }

  private hold(chunk: Buffer): void {
    if (partialBytes + chunk.length > this.budget()) {
      throw new LinkLimitError(`a partial frame would take the bytes of incomplete frames over the process's budget of ${this.budget()} (luanet.Configure({ partialFrameBytes }))`);
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    partialBytes += chunk.length;
  }

  /** Forget what is buffered (and give it back to the budget); the link is done with it. */
  release(): void {
    partialBytes -= this.buffered;
    this.chunks = [];
    this.buffered = 0;
    this.partialSince = 0;
  }
}

/**
 * Outgoing frames for one stream link, coalesced: bodies are copied into one buffer behind their
 * headers and written with a single socket write at the end of the event-loop turn (setImmediate:
 * after every task the turn's replies woke has run and sent), or sooner when the buffer is full. A write on loopback costs tens of microseconds on a VM, whatever it carries, so fewer
 * and fuller writes are most of what a busy link can gain (bench/rpc-reference.ts measures the
 * same choice by hand).
 */
export class FrameWriter {
  private buf: Buffer;
  private pos = 0;
  private scheduled = false;

  constructor(private readonly write: (data: Buffer) => void, private readonly initial = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** Bytes queued and not yet written. */
  get pending(): number {
    return this.pos;
  }

  send(body: Uint8Array): void {
    const need = HEADER_BYTES + body.length;
    if (this.pos + need > this.buf.length) {
      this.flush(); // what is queued goes first, and a frame larger than a buffer gets its own
      if (need > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(this.initial, need));
    }
    this.buf.writeUInt32BE(body.length, this.pos);
    this.buf.set(body, this.pos + HEADER_BYTES);
    this.pos += need;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushLater);
    }
  }

  private readonly flushLater = (): void => {
    this.scheduled = false;
    this.flush();
  };

  flush(): void {
    if (this.pos === 0) return;
    const out = this.buf.subarray(0, this.pos);
    // The socket keeps `out` until it is written, so the rest of this buffer is ours to fill.
    this.buf = this.buf.length - this.pos >= this.initial >> 2 ? this.buf.subarray(this.pos) : Buffer.allocUnsafe(this.initial);
    this.pos = 0;
    this.write(out);
  }
}
