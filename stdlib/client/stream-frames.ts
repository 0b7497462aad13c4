/**
 * The stream framing of tcp:// gates (docs/protocol.md section 2): a 4-byte unsigned big-endian
 * length, then that many bytes of body. TCP splits and merges frames as it likes, so bodies are
 * reassembled by length. Plain Uint8Arrays, no Node Buffer: the logic is testable on its own.
 *
 * Memory is bounded: a length over `maxFrame` is refused as soon as its 4 bytes have arrived,
 * before any body is read, so at most 4 + maxFrame bytes are ever held for a frame.
 */

export const HEADER_BYTES = 4;

/** A length prefix over the receiver's limit: the connection is closed. */
export class FrameLengthError extends Error {
  constructor(readonly size: number, readonly max: number) {
    super(`a frame of ${size} bytes, over the client's maxFrameBytes of ${max}`);
  }
}

/** `body` behind its 4-byte length, ready to write. */
export function framed(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, HEADER_BYTES);
  return out;
}

export class StreamFrames {
  /** The length prefix being read, while fewer than 4 of its bytes have arrived. */
  private readonly head = new Uint8Array(HEADER_BYTES);
  private headFill = 0;
  /** The body being read (its length known), or null while reading a header. */
  private body: Uint8Array | null = null;
  private bodyFill = 0;

  constructor(private readonly maxFrame: number) {}

  /** Bytes held for the frame not yet complete. */
  get held(): number {
    return this.headFill + this.bodyFill;
  }

  /**
   * Feed a chunk; `onFrame` gets every complete body, in order (a view of `chunk` when the body
   * lies whole in it, so it is to be used before the next chunk). `onFrame` returning false
   * stops the reading (the connection is closing): the rest of the chunk is dropped. Throws
   * FrameLengthError; the reassembler is then unusable.
   */
  push(chunk: Uint8Array, onFrame: (body: Uint8Array) => boolean | void): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.body === null) {
        let length: number;
        if (this.headFill === 0 && end - pos >= HEADER_BYTES) {
          length = ((chunk[pos]! << 24) >>> 0) + (chunk[pos + 1]! << 16) + (chunk[pos + 2]! << 8) + chunk[pos + 3]!;
          pos += HEADER_BYTES;
        } else {
          const n = Math.min(HEADER_BYTES - this.headFill, end - pos);
          this.head.set(chunk.subarray(pos, pos + n), this.headFill);
          this.headFill += n;
          pos += n;
          if (this.headFill < HEADER_BYTES) return;
          this.headFill = 0;
          length = new DataView(this.head.buffer).getUint32(0);
        }
        if (length > this.maxFrame) throw new FrameLengthError(length, this.maxFrame);
        if (end - pos >= length) {
          // The whole body is in this chunk: no copy.
          const body = chunk.subarray(pos, pos + length);
          pos += length;
          if (onFrame(body) === false) return;
          continue;
        }
        this.body = new Uint8Array(length);
        this.bodyFill = 0;
      }
      const n = Math.min(this.body.length - this.bodyFill, end - pos);
      this.body.set(chunk.subarray(pos, pos + n), this.bodyFill);
      this.bodyFill += n;
      pos += n;
      if (this.bodyFill < this.body.length) return;
      const body = this.body;
      this.body = null;
      this.bodyFill = 0;
      if (onFrame(body) === false) return;
    }
  }
}
