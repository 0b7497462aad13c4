/**
 * Batches on UDP links: the frames a link sends in one turn of the event loop, packed into as few
 * datagrams of at most `udpBatchBytes` (luanet.Configure; 1,400 by default, what ordinary networks
 * carry unfragmented: Ethernet's 1,500 bytes less IP, UDP and tunnel headers) as they fit, so that a burst of small
 * frames costs one datagram, one send and one signature per batch instead of per frame. After a
 * datagram's HELLO (udp.ts) comes either one frame body, as without batches, or
 *
 *     +------+-------------------+-----------+-------------------+-----------+---
 *     | 0xff | length: u16 BE    | frame     | length: u16 BE    | frame     | ...
 *     +------+-------------------+-----------+-------------------+-----------+---
 *
 * 0xff (CBOR's "break") can start no CBOR item, so no frame body (a CBOR array, 0x80-0x9f)
 * starts with it. A batch holds at least one frame (luanet sends a single frame alone), each of
 * at least one byte, and nothing follows its last frame; any other batch closes the link, as a
 * malformed datagram does. A frame too large for a batch goes alone, as it always did. Only a peer known to take
 * batches is sent any (udp-route.ts says how each side learns it).
 *
 * A datagram is built in place: `HEADROOM` bytes are left in front of the payload for the route
 * header and the DATA header of security/datagram.ts, and `TAIL` after it for the DATA tag, so
 * that neither adds a copy.
 * @internal
 */
import { ProtocolError } from "../wire/envelope.js";
import { DATA_HEADER, TAG_BYTES } from "../security/datagram.js";
import { ECHO_BYTES } from "./udp-route.js";

/** The first byte of a batch, after the HELLO. */
export const BATCH = 0xff;
const LENGTH_BYTES = 2;
/** Room left in front of a payload: the longest route header, then DATA's kind and seq. */
export const HEADROOM = ECHO_BYTES + DATA_HEADER;
/** Room left after a payload: DATA's tag. */
export const TAIL = TAG_BYTES;

/** One datagram's payload under construction: `buf[start, end)`, with HEADROOM before and TAIL after. */
export interface Payload {
  buf: Buffer;
  start: number;
  end: number;
}

/** A lone frame behind the HELLO header `head` ([h: u16][HELLO]), in a buffer of its own. */
export function lone(head: Buffer, body: Uint8Array): Payload {
  const buf = Buffer.allocUnsafe(HEADROOM + head.length + body.length + TAIL);
  head.copy(buf, HEADROOM);
  buf.set(body, HEADROOM + head.length);
  return { buf, start: HEADROOM, end: HEADROOM + head.length + body.length };
}

/**
 * The frames queued for one link's next datagram. `add` takes a frame if it fits in `room` bytes
 * of payload beside the others; `take` gives what is queued as one payload (a lone frame when
 * only one is queued) and starts afresh. At most one datagram's worth is ever held.
 */
export class Batch {
  private buf: Buffer | null = null;
  private end = 0;
  private limit = 0;
  private frames = 0;
  private firstAt = 0;

  constructor(private readonly head: Buffer) {}

  get count(): number {
    return this.frames;
  }

  /** Whether a frame of `bytes` could join some batch of `room` payload bytes (else it goes alone). */
  fits(bytes: number, room: number): boolean {
    return this.head.length + 1 + LENGTH_BYTES + bytes <= room;
  }

  /** Queue `body` if it fits beside what is queued; false (nothing queued) if it does not. */
  add(body: Uint8Array, room: number): boolean {
    if (this.buf === null) {
      this.limit = HEADROOM + room;
      this.buf = Buffer.allocUnsafe(this.limit + TAIL);
      this.head.copy(this.buf, HEADROOM);
      this.buf[HEADROOM + this.head.length] = BATCH;
      this.end = HEADROOM + this.head.length + 1;
      this.firstAt = this.end;
    }
    if (this.end + LENGTH_BYTES + body.length > this.limit) return false;
    this.buf.writeUInt16BE(body.length, this.end);
    this.buf.set(body, this.end + LENGTH_BYTES);
    this.end += LENGTH_BYTES + body.length;
    this.frames++;
    return true;
  }

  /** What is queued, as one payload, or null if nothing is. */
  take(): Payload | null {
    const buf = this.buf;
    if (buf === null || this.frames === 0) return null;
    let start = HEADROOM;
    if (this.frames === 1) {
      // One frame goes as a lone one: its HELLO header moves up against its body.
      start = this.firstAt + LENGTH_BYTES - this.head.length;
      buf.copyWithin(start, HEADROOM, HEADROOM + this.head.length);
    }
    const payload = { buf, start, end: this.end };
    // The socket keeps `buf` until it is sent: the next batch gets a buffer of its own.
    this.buf = null;
    this.frames = 0;
    return payload;
  }
}

/**
 * Hand each frame of `datagram[at, end)` (what follows the HELLO) to `onFrame`: a lone frame, or
 * every frame of a batch. A malformed batch throws ProtocolError before any of its frames is handed on.
 */
export function unbatch(datagram: Buffer, at: number, onFrame: (body: Buffer) => void): void {
  if (datagram[at] !== BATCH) return onFrame(datagram.subarray(at));
  let pos = at + 1;
  let frames = 0;
  while (pos < datagram.length) {
    if (pos + LENGTH_BYTES > datagram.length) throw new ProtocolError(`a UDP batch that ends inside the length of its frame ${frames + 1}`);
    const length = datagram.readUInt16BE(pos);
    if (length === 0) throw new ProtocolError(`a UDP batch whose frame ${frames + 1} is empty`);
    if (pos + LENGTH_BYTES + length > datagram.length) {
      throw new ProtocolError(`a UDP batch whose frame ${frames + 1} announces ${length} bytes, but only ${datagram.length - pos - LENGTH_BYTES} follow`);
    }
    pos += LENGTH_BYTES + length;
    frames++;
  }
  if (frames === 0) throw new ProtocolError("a UDP batch of no frames");
  for (pos = at + 1; pos < datagram.length; ) {
    const length = datagram.readUInt16BE(pos);
    onFrame(datagram.subarray(pos + LENGTH_BYTES, pos + LENGTH_BYTES + length));
    pos += LENGTH_BYTES + length;
  }
}
