/**
 * A scripted gate for the client's tests: a real WebSocket (`ws`) or TCP server on 127.0.0.1,
 * port 0, whose test decides frame by frame what it sends, including what a real gate never
 * would (garbage, silence, a frame over a limit). Frames are built with plain cbor-x, not with
 * the client's codec, and TCP frames are read with the cluster's FrameDecoder. Servers and
 * their sockets are closed when the test file ends; every wait is bounded.
 */
import { createServer, type Server, type Socket } from "node:net";
import { after } from "node:test";
import { Decoder, Encoder } from "cbor-x";
import { WebSocketServer, type WebSocket } from "ws";
import { FrameDecoder } from "../../runtime/wire/frame.ts";

export const cbor = new Encoder({ useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false });

/** HELLO as a gate sends it: version 1. */
export const hello = (session = "s1.1@gate", heartbeatMs = 10_000, auth = false, maxRequestBytes = 65_536): unknown[] => [0, 1, session, heartbeatMs, auth, maxRequestBytes];

/** One client connection, from the gate's side. */
export class Peer {
  /** Every frame the client sent, decoded, in order. */
  readonly frames: unknown[][] = [];
  closed = false;
  /** Frames received and not yet taken by next(). */
  private readonly unread: unknown[][] = [];
  private readonly waiters: Array<(frame: unknown[]) => void> = [];
  private readonly closeWaiters: Array<() => void> = [];

  constructor(private readonly write: (bytes: Uint8Array | string) => void, private readonly end: () => void) {}

  /** Send a frame (encoded as given). */
  send(frame: unknown[]): void {
    this.write(cbor.encode(frame));
  }

  /** Send bytes as they are (a WebSocket binary message, or TCP bytes with no framing added), or text. */
  sendRaw(bytes: Uint8Array | string): void {
    this.write(bytes);
  }

  close(): void {
    this.end();
  }

  /** The next frame the client sends (frames already received first), within `ms`. */
  next(ms = 2000): Promise<unknown[]> {
    const frame = this.unread.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    let waiter!: (frame: unknown[]) => void;
    const got = new Promise<unknown[]>((resolve) => this.waiters.push((waiter = resolve)));
    return within(got, ms, "a frame from the client").finally(() => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
    });
  }

  /** Resolves when the client's connection closes, within `ms`. */
  whenClosed(ms = 2000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return within(new Promise<void>((resolve) => this.closeWaiters.push(resolve)), ms, "the client to close");
  }

  /** @internal */
  received(body: Uint8Array): void {
    const frame = decoder.decode(body) as unknown[];
    this.frames.push(frame);
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(frame);
    else this.unread.push(frame);
  }

  /** @internal */
  ended(): void {
    this.closed = true;
    for (const w of this.closeWaiters.splice(0)) w();
  }
}

export interface FakeGate {
  readonly url: string;
  readonly port: number;
  /** Every client connection so far. */
  readonly peers: Peer[];
  /** The next connection (or one already made and not yet taken), within `ms`. */
  nextPeer(ms?: number): Promise<Peer>;
  /** Stop listening and drop every connection. */
  close(): Promise<void>;
}

const gates: FakeGate[] = [];
after(async () => {
  await Promise.all(gates.map((g) => g.close()));
});

function gateOf(url: (port: number) => string, port: number, closeServer: () => Promise<void>, dropAll: () => void): FakeGate & { add(peer: Peer): void } {
  const peers: Peer[] = [];
  const unread: Peer[] = [];
  const waiters: Array<(peer: Peer) => void> = [];
  let closed = false;
  const gate = {
    url: url(port),
    port,
    peers,
    nextPeer(ms = 2000): Promise<Peer> {
      const peer = unread.shift();
      if (peer !== undefined) return Promise.resolve(peer);
      let waiter!: (peer: Peer) => void;
      const got = new Promise<Peer>((resolve) => waiters.push((waiter = resolve)));
      return within(got, ms, "a connection from the client").finally(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      dropAll();
      await closeServer();
    },
    add(peer: Peer) {
      peers.push(peer);
      const waiter = waiters.shift();
      if (waiter !== undefined) waiter(peer);
      else unread.push(peer);
    },
  };
  gates.push(gate);
  return gate;
}

/** A WebSocket gate; `onPeer` runs for each connection as it is accepted. */
export async function wsGate(onPeer: (peer: Peer) => void = () => {}): Promise<FakeGate> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const sockets = new Set<WebSocket>();
  const port = (server.address() as { port: number }).port;
  const gate = gateOf((p) => `ws://127.0.0.1:${p}`, port, () => new Promise<void>((resolve) => server.close(() => resolve())), () => {
    for (const ws of sockets) ws.terminate();
  });
  server.on("connection", (ws) => {
    sockets.add(ws);
    const peer = new Peer((bytes) => ws.send(bytes), () => ws.terminate());
    ws.on("message", (data, isBinary) => {
      if (isBinary) peer.received(data as Buffer);
    });
    ws.on("error", () => {});
    ws.on("close", () => {
      sockets.delete(ws);
      peer.ended();
    });
    gate.add(peer);
    onPeer(peer);
  });
  return gate;
}

/** A TCP gate (4-byte big-endian length framing); Peer.send frames what it sends. */
export async function tcpGate(onPeer: (peer: Peer) => void = () => {}): Promise<FakeGate> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const frames = new FrameDecoder(16 << 20);
    const peer = new Peer((bytes) => {
      if (typeof bytes === "string") throw new TypeError("a TCP gate sends no text");
      socket.write(bytes);
    }, () => socket.destroy());
    // Peer.send goes through the framing; sendRaw does not.
    peer.send = (frame: unknown[]) => void socket.write(lengthPrefixed(cbor.encode(frame)));
    socket.on("data", (chunk) => frames.push(chunk, (body) => peer.received(body)));
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      peer.ended();
    });
    gate.add(peer);
    onPeer(peer);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = (server.address() as { port: number }).port;
  const gate = gateOf((p) => `tcp://127.0.0.1:${p}`, port, () => new Promise<void>((resolve) => server.close(() => resolve())), () => {
    for (const s of sockets) s.destroy();
  });
  return gate;
}

/** `body` behind its 4-byte big-endian length. */
export function lengthPrefixed(body: Uint8Array): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]);
}
