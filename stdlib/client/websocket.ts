/**
 * ws:// and wss:// gates: one frame body per binary WebSocket message, no length prefix
 * (docs/protocol.md 13.1). The WebSocket is the environment's own where there is one (browsers,
 * Node 22+), else the `ws` package's, loaded on first use from node.ts so that a browser bundle
 * never references it.
 */
import { loadNodeWebSocket } from "./node.js";
import type { Transport, TransportEvents, TransportOptions } from "./transport.js";

/** What is used of a WebSocket: the browser's API, which `ws` implements too. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: { message?: string; error?: { code?: string; message?: string } }) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number): void;
  /** `ws` only: drop the connection without the closing handshake. */
  terminate?(): void;
}
export type WebSocketConstructor = new (url: string, options?: object) => WebSocketLike;

export function openWebSocket(url: string, events: TransportEvents, options: TransportOptions): Transport {
  return new WebSocketTransport(url, events, options);
}

class WebSocketTransport implements Transport {
  private socket: WebSocketLike | null = null;
  private opened = false;
  private done = false;
  /** What the last error event said (browsers say nothing). */
  private error = "";

  constructor(url: string, private readonly events: TransportEvents, private readonly options: TransportOptions) {
    const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    // Started on a microtask even when nothing needs loading, so that no event reaches the
    // caller before openTransport() has returned.
    const ctor = native !== undefined ? Promise.resolve({ ctor: native, fromPackage: false }) : loadNodeWebSocket().then((ctor) => ({ ctor, fromPackage: true }));
    ctor.then(({ ctor, fromPackage }) => this.start(ctor, fromPackage, url), (error: unknown) => this.end("unavailable", `cannot load a WebSocket implementation: ${String((error as Error)?.message ?? error)}`));
  }

  private start(ctor: WebSocketConstructor, fromPackage: boolean, url: string): void {
    if (this.done) return;
    let socket: WebSocketLike;
    try {
      // `ws`: refuse a message over maxFrameBytes while it arrives; a browser's WebSocket
      // takes any size, so the size is checked on arrival below as well.
      socket = fromPackage ? new ctor(url, { maxPayload: this.options.maxFrameBytes }) : new ctor(url);
    } catch (error) {
      this.end("unavailable", `cannot open ${url}: ${String((error as Error)?.message ?? error)}`);
      return;
    }
    this.socket = socket;
    socket.binaryType = fromPackage ? "nodebuffer" : "arraybuffer";
    // The handlers stay set after close(), guarded by `done`: `ws` throws an error event that
    // has no listener.
    socket.onopen = () => {
      if (this.done) return;
      this.opened = true;
      this.events.open();
    };
    socket.onmessage = (ev) => {
      if (this.done) return;
      const data = ev.data;
      let body: Uint8Array;
      if (data instanceof ArrayBuffer) body = new Uint8Array(data);
      else if (data instanceof Uint8Array) body = data;
      else {
        this.fail("protocol", typeof data === "string" ? "a text message from the gate (client frames are binary messages)" : "a message from the gate that is not binary");
        return;
      }
      if (body.length > this.options.maxFrameBytes) this.fail("protocol", `a message of ${body.length} bytes from the gate, over the client's maxFrameBytes of ${this.options.maxFrameBytes}`);
      else this.events.frame(body);
    };
    socket.onerror = (ev) => {
      if (ev.error?.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        this.fail("protocol", `a message from the gate over the client's maxFrameBytes of ${this.options.maxFrameBytes}`);
        return;
      }
      this.error = String(ev.message ?? ev.error?.message ?? "");
    };
    socket.onclose = (ev) => {
      const why = this.error !== "" ? this.error : `WebSocket closed, code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""}`;
      this.end(this.opened ? "disconnected" : "unavailable", this.opened ? `the gate closed the connection (${why})` : `cannot connect to ${url} (${why})`);
    };
  }

  send(body: Uint8Array): void {
    if (this.done || !this.opened || this.socket === null) return;
    this.socket.send(body);
  }

  buffered(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  close(graceful: boolean): void {
    if (this.done) return;
    this.done = true;
    const socket = this.socket;
    if (socket === null) return;
    try {
      if (!graceful && socket.terminate !== undefined) socket.terminate();
      else socket.close(1000);
    } catch {
      // a socket that cannot close is closed enough
    }
  }

  /** The gate broke the framing: drop the connection and report it. */
  private fail(how: "protocol", message: string): void {
    if (this.done) return;
    this.close(false);
    this.events.end(how, message);
  }

  private end(how: "disconnected" | "unavailable", message: string): void {
    if (this.done) return;
    this.done = true;
    this.events.end(how, message);
  }
}
