/**
 * Client frames (docs/protocol.md 13.2): every body is one CBOR array whose first item is the
 * frame's type. This file encodes what the client sends and validates what the gate sends;
 * nothing here knows about sockets.
 *
 *     HELLO   [0, version, session, heartbeatMs, auth, maxRequestBytes]   gate -> client
 *     AUTH    [1, id, args]                                             client -> gate
 *     REQUEST [2, id, route, args]                                      client -> gate
 *     MESSAGE [3, route, args]                                          client -> gate
 *     PING    [4]                                                       client -> gate
 *     REPLY   [5, id, result]                                           gate -> client
 *     ERROR   [6, id, code, message]                                    gate -> client
 *     PUSH    [7, route, msg]                                           gate -> client
 *     KICK    [8, reason, message]                                      gate -> client
 *     PONG    [9]                                                       gate -> client
 *
 * A body from the gate is checked against the protocol's CBOR subset (runtime/wire/cbor-subset.ts,
 * a leaf module with no imports and no Node API) before cbor-x decodes it, so no decoder
 * extension (value sharing, records, generic objects) is reachable from the network, as on the
 * cluster's links.
 */
import { Decoder, Encoder } from "cbor-x";
import { checkSubset } from "../../runtime/wire/cbor-subset.js";

/** The gate protocol's version, HELLO's second item. */
export const GATE_PROTOCOL_VERSION = 1;

export const Frame = { HELLO: 0, AUTH: 1, REQUEST: 2, MESSAGE: 3, PING: 4, REPLY: 5, ERROR: 6, PUSH: 7, KICK: 8, PONG: 9 } as const;

/** Largest request id: ids are unsigned 32-bit integers above 0. */
export const MAX_ID = 0xffff_ffff;

export interface Hello {
  readonly type: typeof Frame.HELLO;
  readonly session: string;
  readonly heartbeatMs: number;
  readonly auth: boolean;
  readonly maxRequestBytes: number;
}

/** A frame from the gate, validated. */
export type GateFrame =
  | Hello
  | { readonly type: typeof Frame.REPLY; readonly id: number; readonly result: unknown }
  | { readonly type: typeof Frame.ERROR; readonly id: number; readonly code: string; readonly message: string }
  | { readonly type: typeof Frame.PUSH; readonly route: string; readonly msg: unknown }
  | { readonly type: typeof Frame.KICK; readonly reason: string; readonly message: string }
  | { readonly type: typeof Frame.PONG };

/** A body from the gate that is not a valid frame: the client closes with reason "protocol". */
export class FrameError extends Error {}

/** Why a value the caller gave cannot be sent: its code is `bad_value` or `too_large`. */
export class UnsendableError extends Error {
  constructor(readonly tooLarge: boolean, message: string) {
    super(message);
  }
}

/**
 * The encoder and decoder of one connection's frames. Plain CBOR only (no cbor-x records), as
 * on the cluster's links; byte strings decode to copies, never to views of a received chunk.
 */
export class FrameCodec {
  private readonly encoder = new Encoder({ useRecords: false, tagUint8Array: false });
  private readonly decoder = new Decoder({ useRecords: false, copyBuffers: true });

  /** A body for the gate. `maxBytes`: the gate's maxRequestBytes (from HELLO). Throws
   * UnsendableError for a value that cannot be encoded, is outside the CBOR subset (an Error or
   * RegExp: cbor-x writes tag 27, which the gate refuses), or is too large. */
  encode(frame: readonly unknown[], maxBytes: number): Uint8Array {
    let body: Uint8Array;
    try {
      body = this.encoder.encode(frame);
    } catch (error) {
      throw new UnsendableError(false, `cannot encode it: ${messageOf(error)}`);
    }
    const refused = checkSubset(body);
    if (refused !== null) throw new UnsendableError(false, `it is outside the protocol's CBOR subset (${refused}); an Error or RegExp cannot be sent, send its message as a string`);
    if (body.length > maxBytes) throw new UnsendableError(true, `it is ${body.length} bytes encoded, over the gate's maxRequestBytes of ${maxBytes}`);
    return body;
  }

  /** Decode and validate a body from the gate. Throws FrameError. */
  decode(body: Uint8Array): GateFrame {
    const refused = checkSubset(body);
    if (refused !== null) throw new FrameError(`CBOR outside the protocol's subset: ${refused}`);
    let v: unknown;
    try {
      v = this.decoder.decode(body);
    } catch (error) {
      throw new FrameError(`invalid CBOR: ${messageOf(error)}`);
    }
    return parse(v);
  }
}

/** A protocol integer: any CBOR width (an 8-byte one decodes as a BigInt), within 0 … 2^53 - 1. */
function int(x: unknown): number | null {
  if (typeof x === "bigint") return x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : null;
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0 ? x : null;
}

function id(x: unknown): number | null {
  const n = int(x);
  return n !== null && n >= 1 && n <= MAX_ID ? n : null;
}

/** The frame `v` is, or FrameError. Lengths are exact: a gate of this version sends exactly these items. */
function parse(v: unknown): GateFrame {
  if (!Array.isArray(v) || v.length === 0) throw new FrameError("a frame must be a non-empty CBOR array");
  const type = v[0];
  switch (type) {
    case Frame.HELLO: {
      if (v.length !== 6) break;
      const version = int(v[1]);
      if (version !== GATE_PROTOCOL_VERSION) {
        if (version === null) break;
        throw new FrameError(`unsupported gate protocol version ${version} (this client speaks ${GATE_PROTOCOL_VERSION})`);
      }
      const heartbeatMs = int(v[3]);
      const maxRequestBytes = int(v[5]);
      if (typeof v[2] !== "string" || v[2] === "" || heartbeatMs === null || typeof v[4] !== "boolean" || maxRequestBytes === null || maxRequestBytes === 0) break;
      return { type, session: v[2], heartbeatMs, auth: v[4], maxRequestBytes };
    }
    case Frame.REPLY: {
      const n = id(v[1]);
      if (v.length === 3 && n !== null) return { type, id: n, result: v[2] };
      break;
    }
    case Frame.ERROR: {
      const n = id(v[1]);
      if (v.length === 4 && n !== null && typeof v[2] === "string" && typeof v[3] === "string") return { type, id: n, code: v[2], message: v[3] };
      break;
    }
    case Frame.PUSH:
      if (v.length === 3 && typeof v[1] === "string") return { type, route: v[1], msg: v[2] };
      break;
    case Frame.KICK:
      if (v.length === 3 && typeof v[1] === "string" && typeof v[2] === "string") return { type, reason: v[1], message: v[2] };
      break;
    case Frame.PONG:
      if (v.length === 1) return { type };
      break;
    case Frame.AUTH:
    case Frame.REQUEST:
    case Frame.MESSAGE:
    case Frame.PING:
      throw new FrameError(`a frame of type ${type}, which only a client sends`);
    default:
      throw new FrameError(`unknown frame type ${typeof type === "string" ? JSON.stringify(type.slice(0, 40)) : String(type)}`);
  }
  throw new FrameError(`malformed frame of type ${type} with ${v.length} items`);
}

function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? String(error.message) : String(error);
  } catch {
    return "(no readable message)";
  }
}
