/**
 * The client protocol's frames (docs/protocol.md section 13): what a player's client and a gate
 * say to each other. Every body is one CBOR array in the cluster's subset (wire/cbor-subset.ts),
 * its first item the type:
 *
 *     HELLO   [0, version, session, heartbeatMs, auth, maxRequestBytes]   gate → client, first
 *     AUTH    [1, id, args]                      client → gate: log in (REPLY or ERROR)
 *     REQUEST [2, id, route, args]               client → gate: call "Service.Func"
 *     MESSAGE [3, route, args]                   client → gate: the same, one way
 *     PING    [4]                                client → gate (PONG)
 *     REPLY   [5, id, result]                    gate → client
 *     ERROR   [6, id, code, message]             gate → client
 *     PUSH    [7, route, msg]                    gate → client: a push or a channel broadcast
 *     KICK    [8, reason, message]               gate → client, last: the gate closes
 *     PONG    [9]                                gate → client
 *
 * ids are integers from 1 to 2^32 - 1, the client's choice. On WebSocket a frame is one binary
 * message; on TCP it is behind the cluster's 4-byte length (wire/frame.ts).
 * @internal
 */
import { Decoder, Encoder } from "cbor-x";
import { LuanetError, thrown } from "../errors.js";
import { checkSubset } from "../wire/cbor-subset.js";

export const CLIENT_PROTOCOL_VERSION = 1;

export const ClientType = { HELLO: 0, AUTH: 1, REQUEST: 2, MESSAGE: 3, PING: 4, REPLY: 5, ERROR: 6, PUSH: 7, KICK: 8, PONG: 9 } as const;

/** What a client may send, validated. */
export type ClientFrame =
  | readonly [typeof ClientType.AUTH, number, unknown]
  | readonly [typeof ClientType.REQUEST, number, string, unknown]
  | readonly [typeof ClientType.MESSAGE, string, unknown]
  | readonly [typeof ClientType.PING];

const MAX_ID = 0xffff_ffff;
const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, copyBuffers: true });

/** A frame a client sent that is not one: its session ends (KICK `protocol`). */
export class ClientProtocolError extends LuanetError {
  constructor(message: string) {
    super("protocol", message);
  }
}

const isId = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= MAX_ID;

/** Decode and validate what a client sent. Throws ClientProtocolError. */
export function decodeClient(body: Uint8Array): ClientFrame {
  const refused = checkSubset(body);
  if (refused !== null) throw new ClientProtocolError(`CBOR outside the protocol's subset: ${refused}`);
  let v: unknown;
  try {
    v = decoder.decode(body);
  } catch (error) {
    throw new ClientProtocolError(`invalid CBOR: ${thrown(error).message}`);
  }
  if (!Array.isArray(v)) throw new ClientProtocolError("a frame must be a CBOR array");
  switch (v[0]) {
    case ClientType.AUTH:
      if (v.length === 3 && isId(v[1])) return v as unknown as ClientFrame;
      break;
    case ClientType.REQUEST:
      if (v.length === 4 && isId(v[1]) && typeof v[2] === "string") return v as unknown as ClientFrame;
      break;
    case ClientType.MESSAGE:
      if (v.length === 3 && typeof v[1] === "string") return v as unknown as ClientFrame;
      break;
    case ClientType.PING:
      if (v.length === 1) return v as unknown as ClientFrame;
      break;
  }
  const type = typeof v[0] === "number" ? String(v[0]) : JSON.stringify(String(v[0]).slice(0, 40));
  throw new ClientProtocolError(`malformed client frame of type ${type} with ${v.length} items`);
}

/** Encode a frame for a client. Throws LuanetError `bad_value` if a value cannot be encoded. */
export function encodeClient(frame: readonly unknown[]): Uint8Array {
  try {
    return encoder.encode(frame);
  } catch (error) {
    throw new LuanetError("bad_value", `cannot encode the frame for the client: ${thrown(error).message}`);
  }
}

export const PONG_FRAME = encodeClient([ClientType.PONG]);
