/**
 * A player's connection to a gate, WebSocket or TCP, behind one interface: the gate sees frame
 * bodies in and out, the bytes queued to the client, and a close. Both listeners refuse what the
 * client protocol forbids before a body reaches the gate: a WebSocket text message, a frame over
 * `maxRequestBytes` (ws's own `maxPayload`, which closes with code 1009; on TCP the frame header,
 * answered with KICK `too_large`).
 * @internal
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { FrameDecoder, FrameTooLargeError, HEADER_BYTES } from "../wire/frame.js";

/** What a listener hands the gate for each connection. */
export interface ClientLink {
  /** The client's IP address ("local" for a UNIX socket). */
  readonly source: string;
  readonly transport: "ws" | "tcp";
  /** Bytes queued to the client and not yet taken by the kernel. */
  readonly queued: number;
  readonly closed: boolean;
  send(body: Uint8Array): void;
  /** Close after what is queued is sent; forced `FORCE_CLOSE_MS` later if the client does not read. */
  close(): void;
}

/** What the gate does with a connection's events. */
export interface LinkHandler {
  /** A new connection: returns the gate's receivers for it. */
  open(link: ClientLink): { frame(body: Uint8Array): void; refused(reason: "too_large" | "protocol", message: string): void; closed(): void };
}

/** A closing connection whose client reads nothing is destroyed after this. */
const FORCE_CLOSE_MS = 2000;
/** An HTTP request must bring its headers (the upgrade) within this. */
const HEADERS_TIMEOUT_MS = 10_000;

export interface ClientListener {
  /** The port it listens on. */
  readonly port: number;
  close(): Promise<void>;
}

const sourceOf = (address: string | undefined): string => (address === undefined ? "unknown" : address.startsWith("::ffff:") ? address.slice(7) : address);

class WsLink implements ClientLink {
  readonly transport = "ws";
  constructor(private readonly ws: WebSocket, readonly source: string) {}
  get queued(): number {
    return this.ws.bufferedAmount;
  }
  get closed(): boolean {
    return this.ws.readyState !== this.ws.OPEN;
  }
  send(body: Uint8Array): void {
    if (!this.closed) this.ws.send(body, { binary: true });
  }
  close(): void {
    if (this.ws.readyState === this.ws.CLOSED) return;
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), FORCE_CLOSE_MS).unref();
  }
}

/** Listen for WebSocket clients on `host:port`. */
/** Hand an upgraded connection to the gate. */
function acceptWs(ws: WebSocket, source: string, maxRequestBytes: number, handler: LinkHandler): void {
  const on = handler.open(new WsLink(ws, source));
  ws.on("message", (data, isBinary) => {
    if (!isBinary) return on.refused("protocol", "a text message: the client protocol sends binary messages only");
    on.frame(data as Buffer);
  });
  ws.on("error", (error: Error & { code?: string }) => {
    if (error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") on.refused("too_large", `a message over the gate's maxRequestBytes (${maxRequestBytes})`);
  });
  ws.on("close", () => on.closed());
}

/** Sockets a listener holds, upgraded or not: twice the gate's maxClients (those past it are
 * KICKed at admission; these are the ones not yet there, such as HTTP requests without an upgrade). */
const socketsFor = (maxClients: number): number => 2 * maxClients + 64;

export function listenWs(host: string, port: number, maxRequestBytes: number, maxClients: number, deflate: boolean, handler: LinkHandler): Promise<ClientListener> {
  const http: HttpServer = createHttpServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain", connection: "close" }).end("a luanet gate: connect with WebSocket (luanet/client)\n");
  });
  http.headersTimeout = HEADERS_TIMEOUT_MS;
  http.maxConnections = socketsFor(maxClients);
  http.requestTimeout = HEADERS_TIMEOUT_MS;
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxRequestBytes, perMessageDeflate: deflate, clientTracking: false });
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    // The source is read here, and the connection's listeners made in acceptWs, outside this
    // function: a closure made in here would keep the upgrade request (its headers) and `head`
    // alive as long as the connection, about 1 KiB per client.
    const source = sourceOf(req.socket.remoteAddress);
    wss.handleUpgrade(req, socket, head, (ws) => acceptWs(ws, source, maxRequestBytes, handler));
  });
  return listening(http, host, port, () => new Promise<void>((resolve) => {
    wss.close();
    http.close(() => resolve());
    http.closeAllConnections();
  }));
}

class TcpLink implements ClientLink {
  readonly transport = "tcp";
  constructor(private readonly socket: Socket, readonly source: string) {}
  get queued(): number {
    return this.socket.writableLength;
  }
  get closed(): boolean {
    return this.socket.destroyed || this.socket.writableEnded;
  }
  send(body: Uint8Array): void {
    if (this.closed) return;
    const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    out.writeUInt32BE(body.length, 0);
    out.set(body, HEADER_BYTES);
    this.socket.write(out);
  }
  close(): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), FORCE_CLOSE_MS).unref();
  }
}

/** Listen for TCP clients (the cluster's 4-byte length framing) on `host:port`. */
export function listenTcp(host: string, port: number, maxRequestBytes: number, maxClients: number, handler: LinkHandler): Promise<ClientListener> {
  const server = createTcpServer((socket) => {
    socket.setNoDelay(true);
    const link = new TcpLink(socket, sourceOf(socket.remoteAddress));
    const on = handler.open(link);
    const decoder = new FrameDecoder(maxRequestBytes);
    socket.on("data", (chunk: Buffer) => {
      if (link.closed) return;
      try {
        decoder.push(chunk, (body) => on.frame(body));
      } catch (error) {
        decoder.release();
        on.refused(error instanceof FrameTooLargeError ? "too_large" : "protocol", (error as Error).message);
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      decoder.release();
      on.closed();
    });
  });
  server.maxConnections = socketsFor(maxClients);
  return listening(server, host, port, () => new Promise<void>((resolve) => {
    server.close(() => resolve());
  }));
}

function listening(server: HttpServer | TcpServer, host: string, port: number, close: () => Promise<void>): Promise<ClientListener> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      server.on("error", () => {}); // after listening: per-connection errors are the connections'
      const address = server.address();
      resolve({ port: typeof address === "object" && address !== null ? address.port : port, close });
    });
  });
}
