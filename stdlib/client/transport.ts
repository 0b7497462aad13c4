/**
 * What the client needs of a connection to a gate, whatever carries it: frames in, frames out,
 * and one report of how it ended. `ws://` and `wss://` are WebSocket (websocket.ts: one frame
 * per binary message), `tcp://host:port` the length-prefixed stream of section 2 (node.ts, Node
 * only).
 */
import { describe } from "./error.js";
import { openTcp } from "./node.js";
import { openWebSocket } from "./websocket.js";

/** How a transport ended, when the client did not end it: the peer closed it or it failed
 * ("disconnected"), it never connected ("unavailable"), or the peer broke the framing
 * ("protocol": a text message, a frame over maxFrameBytes). */
export type TransportEnd = "disconnected" | "unavailable" | "protocol";

export interface TransportEvents {
  /** Connected: frames may be sent. */
  open(): void;
  /** One frame's body, to be used before this returns (it may be a view of a reused buffer).
   * Returns false when the client closed the transport while handling it. */
  frame(body: Uint8Array): boolean;
  /** The transport ended by itself; called at most once, and never after close(). */
  end(how: TransportEnd, message: string): void;
}

export interface Transport {
  /** Send one frame's body. Only after open(); ignored once the transport has ended. */
  send(body: Uint8Array): void;
  /** Bytes written and not yet handed to the network. */
  buffered(): number;
  /** End it; no event follows. Idempotent. `graceful`: let what was sent go out first (the
   * client's own close()); otherwise drop the connection at once (a silent or broken gate). */
  close(graceful: boolean): void;
}

export interface TransportOptions {
  /** Largest frame body accepted from the gate. */
  maxFrameBytes: number;
}

/** A gate's address, parsed from the URL given to connect(). */
export type GateAddress =
  | { readonly kind: "ws"; readonly url: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

/** Parse connect()'s `url`. Throws TypeError naming the parameter. */
export function parseGateUrl(url: unknown): GateAddress {
  if (typeof url !== "string") throw new TypeError(`connect(url): url must be a string such as "ws://host:port" or "tcp://host:port", got ${describe(url)}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`connect(url): url is not a URL, got ${describe(url)}`);
  }
  if (parsed.protocol === "ws:" || parsed.protocol === "wss:") return { kind: "ws", url: parsed.href };
  if (parsed.protocol === "tcp:") {
    const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(parsed.port);
    if (host === "" || parsed.port === "" || !Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`connect(url): a tcp:// url needs a host and a port, as "tcp://127.0.0.1:3010", got ${describe(url)}`);
    if ((parsed.pathname !== "" && parsed.pathname !== "/") || parsed.search !== "" || parsed.hash !== "" || parsed.username !== "") throw new TypeError(`connect(url): a tcp:// url is only a host and a port, got ${describe(url)}`);
    return { kind: "tcp", host, port };
  }
  throw new TypeError(`connect(url): url must start with ws://, wss:// or tcp://, got ${describe(url)}`);
}

/** Start connecting; the transport reports through `events`. Never throws for network failures. */
export function openTransport(address: GateAddress, events: TransportEvents, options: TransportOptions): Transport {
  return address.kind === "ws" ? openWebSocket(address.url, events, options) : openTcp(address.host, address.port, events, options);
}
