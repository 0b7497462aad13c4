/**
 * What only Node has: the `ws` package (Node 20 has no WebSocket of its own) and tcp:// gates
 * over node:net. Both are imported dynamically, on first use, and the browser bundle replaces
 * this file with node.browser.ts (package.json "browser"), so a browser never references either.
 */
import type { Socket } from "node:net";
import { FrameLengthError, framed, StreamFrames } from "./stream-frames.js";
import type { Transport, TransportEvents, TransportOptions } from "./transport.js";
import type { WebSocketConstructor } from "./websocket.js";

/** The `ws` package's WebSocket, which has the browser's API. */
export async function loadNodeWebSocket(): Promise<WebSocketConstructor> {
  const ws = await import("ws");
  return (ws.WebSocket ?? ws.default) as unknown as WebSocketConstructor;
}

/** A tcp:// gate: the stream framing of section 2. */
export function openTcp(host: string, port: number, events: TransportEvents, options: TransportOptions): Transport {
  return new TcpTransport(host, port, events, options);
}

/** How long a gracefully closed socket may wait for the gate's side of the close. */
const LINGER_MS = 5000;

class TcpTransport implements Transport {
  private socket: Socket | null = null;
  private opened = false;
  private done = false;
  private error = "";
  private readonly frames: StreamFrames;

  constructor(host: string, port: number, private readonly events: TransportEvents, options: TransportOptions) {
    this.frames = new StreamFrames(options.maxFrameBytes);
    import("node:net").then((net) => this.start(net.connect, host, port), (error: unknown) => this.end("unavailable", `cannot load node:net: ${String((error as Error)?.message ?? error)}`));
  }

  private start(connect: typeof import("node:net").connect, host: string, port: number): void {
    if (this.done) return;
    const socket = connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("connect", () => {
      if (this.done) return;
      this.opened = true;
      this.events.open();
    });
    socket.on("data", (chunk: Buffer) => {
      if (this.done) return;
      try {
        this.frames.push(chunk, (body) => !this.done && this.events.frame(body));
      } catch (error) {
        if (!(error instanceof FrameLengthError)) throw error;
        this.close(false);
        this.events.end("protocol", `${error.message} from the gate`);
      }
    });
    socket.on("error", (error) => {
      this.error = error.message;
    });
    socket.on("close", () => {
      const why = this.error !== "" ? this.error : "closed";
      this.end(this.opened ? "disconnected" : "unavailable", this.opened ? `the gate closed the connection (${why})` : `cannot connect to ${host}:${port} (${why})`);
    });
  }

  send(body: Uint8Array): void {
    if (this.done || !this.opened || this.socket === null) return;
    this.socket.write(framed(body));
  }

  buffered(): number {
    return this.socket?.writableLength ?? 0;
  }

  close(graceful: boolean): void {
    if (this.done) return;
    this.done = true;
    const socket = this.socket;
    if (socket === null) return;
    if (!graceful || !this.opened) {
      socket.destroy();
      return;
    }
    // What was written goes out, then FIN; the gate closes its side on it. A gate that does not
    // is not waited for long, and does not keep the process alive.
    socket.end();
    socket.unref();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  }

  private end(how: "disconnected" | "unavailable", message: string): void {
    if (this.done) return;
    this.done = true;
    this.events.end(how, message);
  }
}
