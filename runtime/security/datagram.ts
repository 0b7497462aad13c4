/**
 * The cluster handshake and signed datagrams on UDP links. With a cluster secret, every datagram
 * starts with a kind byte:
 *
 *     CHALLENGE  [1][Nd: 16 bytes]                   dialer -> listener, resent until answered
 *     ANSWER     [2][Nd][Nl: 16][proof: 32]           listener -> dialer;
 *                                                    proof = HMAC(secret, "luanet/1 accept" Nd Nl)
 *     DATA       [3][seq: u48 BE][datagram][mac: 16]  either way; the datagram as udp.ts
 *                                                    describes it; mac = first 16 bytes of
 *                                                    HMAC(Kdir, [3] seq datagram), where
 *                                                    K = HMAC(secret, "luanet/1 udp" Nd Nl) and
 *                                                    Kdir = HMAC(K, "d") from the dialer,
 *                                                    HMAC(K, "a") from the listener
 *     RETRY      [4]                                 listener -> dialer: "I know no session of
 *                                                    yours" (it restarted): handshake again
 *
 * What a dialer sends goes behind its route header (transport/udp-route.ts), which is not signed;
 * the CHALLENGE that opens a session must echo the listener's cookie there, so a forged source
 * address opens none.
 *
 * The listener takes the dialer as authenticated at its first DATA whose mac checks: only a
 * holder of the secret can derive the key from its fresh nonce Nl, so a recorded session is
 * useless against a new one. Within a session, each direction numbers its datagrams and the
 * receiver refuses a number it has seen, or one older than the last 64 (a replay window, as in
 * IPsec and DTLS).
 * @internal
 */
import { createHmac, randomBytes } from "node:crypto";
import { NONCE_BYTES } from "../wire/envelope.js";
import { proof, sameMac } from "./handshake.js";

export const Kind = { CHALLENGE: 1, ANSWER: 2, DATA: 3, RETRY: 4 } as const;
const SEQ_BYTES = 6;
export const TAG_BYTES = 16;
/** Bytes of DATA in front of the datagram it wraps: kind and seq. */
export const DATA_HEADER = 1 + SEQ_BYTES;
/** Bytes DATA adds to a datagram. */
export const DATA_OVERHEAD = DATA_HEADER + TAG_BYTES;
const WINDOW = 64;

export const challenge = (nonce: Buffer): Buffer => Buffer.concat([Buffer.of(Kind.CHALLENGE), nonce]);
export const RETRY = Buffer.of(Kind.RETRY);

/** A CHALLENGE's nonce, or null if `datagram` is not a well-formed CHALLENGE. */
export function challengeNonce(datagram: Buffer): Buffer | null {
  return datagram[0] === Kind.CHALLENGE && datagram.length === 1 + NONCE_BYTES ? datagram.subarray(1) : null;
}

/** The session's two keys, one per direction: "d" signs what the dialer sends, "a" the listener. */
function sessionKeys(secret: Buffer, dialerNonce: Uint8Array, listenerNonce: Uint8Array): Keys {
  const key = createHmac("sha256", secret).update("luanet/1 udp").update(dialerNonce).update(listenerNonce).digest();
  const derive = (direction: string) => createHmac("sha256", key).update(direction).digest();
  return { d: derive("d"), a: derive("a") };
}

type Keys = { d: Buffer; a: Buffer };

/** Listener: answer a CHALLENGE; returns the ANSWER to send and the new session's keys. */
export function answer(secret: Buffer, dialerNonce: Buffer): { datagram: Buffer; session: DatagramSession } {
  const mine = randomBytes(NONCE_BYTES);
  const datagram = Buffer.concat([Buffer.of(Kind.ANSWER), dialerNonce, mine, proof(secret, "accept", dialerNonce, mine)]);
  return { datagram, session: new DatagramSession(sessionKeys(secret, dialerNonce, mine), "a") };
}

/** Dialer: the session an ANSWER to our CHALLENGE opens, or null if it is not one (wrong secret,
 * a stale or forged answer). */
export function acceptAnswer(secret: Buffer, myNonce: Buffer, datagram: Buffer): DatagramSession | null {
  if (datagram[0] !== Kind.ANSWER || datagram.length !== 1 + 2 * NONCE_BYTES + 32) return null;
  if (!datagram.subarray(1, 1 + NONCE_BYTES).equals(myNonce)) return null;
  const theirs = datagram.subarray(1 + NONCE_BYTES, 1 + 2 * NONCE_BYTES);
  if (!sameMac(datagram.subarray(1 + 2 * NONCE_BYTES), proof(secret, "accept", myNonce, theirs))) return null;
  return new DatagramSession(sessionKeys(secret, myNonce, theirs), "d");
}

/** The keys and counters of one authenticated UDP session, one side's view. */
export class DatagramSession {
  private sent = 0;
  /** Highest sequence number accepted; `seen[n % WINDOW] === n` for each n accepted within WINDOW of it. */
  private highest = 0;
  private readonly seen = new Float64Array(WINDOW);

  private readonly sendKey: Buffer;
  private readonly receiveKey: Buffer;

  constructor(keys: Keys, direction: "d" | "a") {
    this.sendKey = keys[direction];
    this.receiveKey = keys[direction === "d" ? "a" : "d"];
  }

  /** Wrap an outgoing datagram as DATA, behind `prefix` (a header that is not signed: udp.ts's route). */
  seal(payload: Uint8Array, prefix?: Buffer | null): Buffer {
    const at = (prefix?.length ?? 0) + DATA_HEADER;
    const buf = Buffer.allocUnsafe(at + payload.length + TAG_BYTES);
    buf.set(payload, at);
    return this.sealAt(buf, at, at + payload.length, prefix ?? null);
  }

  /** `seal` in place: `buf[start, end)` is the payload, with room for `prefix` and DATA's header
   * before it and for the tag after it; returns the datagram, a view of `buf`. */
  sealAt(buf: Buffer, start: number, end: number, prefix: Buffer | null): Buffer {
    const at = start - DATA_HEADER;
    buf[at] = Kind.DATA;
    buf.writeUIntBE(++this.sent, at + 1, SEQ_BYTES);
    createHmac("sha256", this.sendKey).update(buf.subarray(at, end)).digest().copy(buf, end, 0, TAG_BYTES);
    const from = at - (prefix?.length ?? 0);
    prefix?.copy(buf, from);
    return buf.subarray(from, end + TAG_BYTES);
  }

  /** Unwrap an incoming DATA: its datagram, or null if the mac fails or it is a replay. */
  open(datagram: Buffer): Buffer | null {
    if (datagram[0] !== Kind.DATA || datagram.length < DATA_OVERHEAD) return null;
    const signed = datagram.length - TAG_BYTES;
    const tag = createHmac("sha256", this.receiveKey).update(datagram.subarray(0, signed)).digest().subarray(0, TAG_BYTES);
    if (!sameMac(datagram.subarray(signed), tag)) return null;
    const header = datagram.subarray(0, 1 + SEQ_BYTES);
    const payload = datagram.subarray(1 + SEQ_BYTES, signed);
    const seq = header.readUIntBE(1, SEQ_BYTES);
    if (seq <= this.highest - WINDOW || this.seen[seq % WINDOW] === seq) return null;
    this.seen[seq % WINDOW] = seq;
    if (seq > this.highest) this.highest = seq;
    return payload;
  }
}
