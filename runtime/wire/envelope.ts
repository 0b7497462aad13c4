/**
 * Envelopes: the body of every frame is one CBOR array whose first item is the type.
 *
 *     HELLO  [0, version, name, addr, pid, type]
 *                                            first frame from the side that dialed: who it is.
 *                                            name: text or null (a process with no service);
 *                                            addr: its listen address or null (see NetAddr);
 *                                            type: "stream" or "dgram" (null with no addr)
 *     MSG    [1, payload]                    one-way message to the receiving service
 *     CALL   [2, id, func, args, timeoutMs?, traceparent?, tracestate?]
 *                                            RPC request; id: unsigned integer > 0, unique
 *                                            among the caller's pending calls; timeoutMs
 *                                            (optional): what is left of the caller's
 *                                            deadline, so a queued call it gave up is dropped;
 *                                            traceparent, tracestate (optional, text): the W3C
 *                                            trace context the call is made in, sent only to a
 *                                            peer that said it takes them (service/features.ts)
 *     REPLY  [3, id, result]                 RPC success
 *     ERROR  [4, id, code, message, stack]   RPC failure; code: text (see ErrorCode);
 *                                            stack: text or null
 *     PING   [5]                             liveness: sent on a link idle for a second; the
 *                                            side that accepted the link answers with PING
 *     CHALLENGE [6, nonce]                   cluster handshake, first frame both ways when a
 *                                            secret is set: 16 fresh random bytes
 *     PROOF  [7, mac]                        HMAC-SHA256(secret, "luanet/1 " + role + peer's
 *                                            nonce + own nonce), role "dial" or "accept"
 *                                            (see security/handshake.ts)
 *
 * A callee answers (REPLY or ERROR) on the connection the CALL came in on, and a caller accepts
 * an answer only there (service/sessions.ts). HELLO's name is a label for `from` and logs; it
 * routes nothing. What CBOR a body may hold is narrower than what cbor-x decodes: see
 * cbor-subset.ts. docs/protocol.md is the full description.
 *
 * @internal
 */
import { Decoder, Encoder } from "cbor-x";
import { LuanetError, thrown } from "../errors.js";
import { isNetAddr, type NetAddr, type SocketType } from "../../stdlib/net.js";
import { checkSubset, cost } from "./cbor-subset.js";
import { CopyBudget, NOT_PLAIN, plainCopy } from "./plain-copy.js";

export const PROTOCOL_VERSION = 2;
/** Sizes of a CHALLENGE's nonce and a PROOF's HMAC-SHA256. */
export const NONCE_BYTES = 16;
export const MAC_BYTES = 32;

export const Type = { HELLO: 0, MSG: 1, CALL: 2, REPLY: 3, ERROR: 4, PING: 5, CHALLENGE: 6, PROOF: 7 } as const;

export type Envelope =
  | readonly [typeof Type.HELLO, number, string | null, NetAddr | null, number, SocketType | null]
  | readonly [typeof Type.MSG, unknown]
  | readonly [typeof Type.CALL, number, string, unknown, number?, string?, string?]
  | readonly [typeof Type.REPLY, number, unknown]
  | readonly [typeof Type.ERROR, number, string, string, string | null]
  | readonly [typeof Type.PING]
  | readonly [typeof Type.CHALLENGE, Uint8Array]
  | readonly [typeof Type.PROOF, Uint8Array];

// Plain CBOR only (no cbor-x record extension), so any CBOR library can speak the protocol.
// What a peer may send is narrower still: cbor-subset.ts, checked before this decoder runs.
// A byte string decodes to a copy, never to a view of the frame: a dialed link reads every frame
// into one reused buffer (transport/stream.ts), which the next read fills again.
const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, copyBuffers: true });

/** cbor-x writes an Error or RegExp as tag 27 (d8 1b), which receivers refuse. */
const TAG_27 = Buffer.from([0xd8, 0x1b]);

/** Whether the bytes d8 1b occur in `body`: a loop for the small frames of the hot path (faster
 * than a call into native code), Buffer's indexOf for the rest. */
function mayHoldTag27(body: Uint8Array): boolean {
  const n = body.length - 1;
  if (n > 128) return Buffer.prototype.indexOf.call(body, TAG_27) >= 0;
  for (let i = 0; i < n; i++) if (body[i] === 0xd8 && body[i + 1] === 0x1b) return true;
  return false;
}

/** Above this cbor-x writes a JS number as a float64, not as a CBOR integer. */
const MAX_UINT32 = 0xffff_ffff;
const wide = (x: number): bigint => BigInt(Math.min(x, Number.MAX_SAFE_INTEGER));

/**
 * The envelope with its integers of 2^32 or more as BigInts, which cbor-x writes as CBOR integers
 * (1b): an id is echoed as the integer the caller sent, not as a float64, and so is a timeoutMs
 * of 50 days or more. A timeoutMs past 2^53 - 1, which receivers refuse, is cut to it. The
 * envelope itself when it has none (luanet's own ids are 31-bit): no copy on the hot path.
 */
function integersOf(envelope: Envelope): Envelope {
  const type = envelope[0];
  if (type < Type.CALL || type > Type.ERROR) return envelope;
  const wideId = (envelope[1] as number) > MAX_UINT32;
  const wideTimeout = type === Type.CALL && ((envelope[4] as number | undefined) ?? 0) > MAX_UINT32;
  if (!wideId && !wideTimeout) return envelope;
  const v = [...envelope] as unknown[];
  if (wideId) v[1] = wide(v[1] as number);
  if (wideTimeout) v[4] = wide(v[4] as number);
  return v as unknown as Envelope;
}

/** Encode an envelope. Throws a LuanetError "bad_value" if a value cannot be encoded. */
export function encode(envelope: Envelope): Uint8Array {
  let body: Uint8Array;
  try {
    body = encoder.encode(integersOf(envelope));
  } catch (error) {
    // What cbor-x threw may be anything a hostile value's getter threw: read it safely.
    throw new LuanetError("bad_value", `cannot encode the message: ${thrown(error).message}`);
  }
  // The two bytes can also occur inside other data: only then is the whole body walked.
  if (mayHoldTag27(body) && checkSubset(body) !== null) {
    throw new LuanetError("bad_value", "cannot encode the message: it holds an Error or RegExp object, which the protocol does not carry (send its message as a string)");
  }
  return body;
}

let payloadCost = 0;
const budget = new CopyBudget();

/**
 * A payload (a call's arguments, a result, a message) as a receiver in another process would get
 * it, for two services of one process: encoded by the encoder above, under its rules, checked as
 * a received frame is (cbor-subset.ts) and decoded, so the receiver has objects of its own and
 * what cannot cross the wire cannot cross here. null, booleans, numbers (but -0, which crosses
 * as 0) and strings are immutable and decode to themselves; a small tree of plain objects and
 * arrays over them is copied node by node (plain-copy.ts), which gives what the round trip would.
 * Throws LuanetError: bad_value (cannot be encoded, or is outside the subset), too_large (over
 * `maxFrame` encoded). `payloadCostOf()` then gives its estimated decoded cost.
 */
export function copyPayload(value: unknown, maxFrame: number, what: string): unknown {
  const copy = plainCopy(value, budget);
  if (copy !== NOT_PLAIN && budget.bytes <= maxFrame) {
    payloadCost = budget.cost;
    return copy;
  }
  let body: Uint8Array;
  try {
    body = encoder.encode(value);
  } catch (error) {
    throw new LuanetError("bad_value", `cannot encode ${what}: ${thrown(error).message}`);
  }
  if (body.length > maxFrame) throw new LuanetError("too_large", `${what} is ${body.length} bytes, over the maximum frame of ${maxFrame} bytes (luanet.Configure({ maxFrameBytes }))`);
  const refused = checkSubset(body);
  if (refused !== null) {
    throw new LuanetError("bad_value", mayHoldTag27(body)
      ? `cannot encode ${what}: it holds an Error or RegExp object, which the protocol does not carry (send its message as a string)`
      : `cannot send ${what}: it is outside the protocol's CBOR subset (${refused})`);
  }
  payloadCost = cost;
  return decoder.decode(body);
}

/** The estimated decoded cost of the payload copyPayload last returned. */
export const payloadCostOf = (): number => payloadCost;

/** A body that is not a valid envelope: the link that sent it is closed. */
export class ProtocolError extends LuanetError {
  constructor(message: string) {
    super("protocol", message);
  }
}

/** Envelope integers may arrive in any CBOR width: an 8-byte one decodes as a BigInt. */
function int(v: unknown[], i: number): boolean {
  const x = v[i];
  if (typeof x === "bigint" && x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER)) v[i] = Number(x);
  return typeof v[i] === "number" && Number.isInteger(v[i]) && (v[i] as number) >= 0;
}
const isId = (v: unknown[]): boolean => int(v, 1) && (v[1] as number) > 0;

/** What the body decode() last returned is estimated to take in memory (cbor-subset.ts): what
 * queues of received frames count against their byte bounds. */
export const decodedCost = (): number => cost;

/** Decode and validate a frame body. Throws ProtocolError. */
export function decode(body: Uint8Array): Envelope {
  const refused = checkSubset(body);
  if (refused !== null) throw new ProtocolError(`CBOR outside the protocol's subset: ${refused}`);
  let value: unknown;
  try {
    value = decoder.decode(body);
  } catch (error) {
    throw new ProtocolError(`invalid CBOR: ${(error as Error).message}`);
  }
  if (!Array.isArray(value)) throw new ProtocolError("an envelope must be a CBOR array");
  const v = value as unknown[];
  switch (v[0]) {
    case Type.HELLO:
      if (v.length === 6 && int(v, 1) && (v[2] === null || typeof v[2] === "string") &&
        (v[3] === null || isNetAddr(v[3])) && int(v, 4) && (v[3] === null ? v[5] === null : v[5] === "stream" || v[5] === "dgram")) {
        if (v[1] !== PROTOCOL_VERSION) throw new ProtocolError(`unsupported protocol version ${v[1]} (this luanet speaks ${PROTOCOL_VERSION})`);
        return v as unknown as Envelope;
      }
      break;
    case Type.MSG:
      if (v.length === 2) return v as unknown as Envelope;
      break;
    case Type.CALL:
      // 4 items, or 5 with timeoutMs, or 6 and 7 with the trace context (texts) after it.
      if ((v.length === 4 || (v.length <= 7 && int(v, 4) && (v.length < 6 || typeof v[5] === "string") && (v.length < 7 || typeof v[6] === "string"))) &&
        isId(v) && typeof v[2] === "string") return v as unknown as Envelope;
      break;
    case Type.REPLY:
      if (v.length === 3 && isId(v)) return v as unknown as Envelope;
      break;
    case Type.ERROR:
      if (v.length === 5 && isId(v) && typeof v[2] === "string" && typeof v[3] === "string" &&
        (v[4] === null || typeof v[4] === "string")) return v as unknown as Envelope;
      break;
    case Type.PING:
      if (v.length === 1) return v as unknown as Envelope;
      break;
    case Type.CHALLENGE:
    case Type.PROOF:
      if (v.length === 2 && v[1] instanceof Uint8Array && v[1].length === (v[0] === Type.CHALLENGE ? NONCE_BYTES : MAC_BYTES)) return v as unknown as Envelope;
      break;
  }
  throw new ProtocolError(`malformed envelope of type ${typeof v[0] === "string" ? JSON.stringify(v[0]) : String(v[0])} with ${v.length} items`);
}
