/**
 * A raw client of a gate for the tests (docs/protocol.md section 13): it speaks the frames
 * themselves, so a test can also send what no well-behaved client would. WebSocket (the `ws`
 * package) or TCP (4-byte length framing). Every wait is bounded.
 */
import { connect as tcpConnect, type Socket } from "node:net";
import { Decoder, Encoder } from "cbor-x";
import WebSocket from "ws";

const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false });
export type Frame = readonly unknown[];

export class RawClient {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  private nextId = 1;
  closed = false;
  /** Resolves when the connection has closed. */
  readonly done: Promise<void>;
  private closedNow!: () => void;

  private constructor(private readonly out: (body: Uint8Array) => void, private readonly end: () => void, readonly pause: () => void) {
    this.done = new Promise((resolve) => (this.closedNow = resolve));
  }

  static ws(port: number): Promise<RawClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const c = new RawClient((b) => ws.send(b), () => ws.terminate(), () => (ws as unknown as { _socket: Socket })._socket.pause());
    ws.on("message", (data) => c.arrive(data as Buffer));
    ws.on("close", () => c.close());
    ws.on("error", () => {});
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(c));
      ws.once("error", reject);
    });
  }

  static tcp(port: number): Promise<RawClient> {
    const socket = tcpConnect(port, "127.0.0.1");
    const c = new RawClient((b) => {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(b.length);
      socket.write(Buffer.concat([head, b]));
    }, () => socket.destroy(), () => socket.pause());
    let held = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      held = Buffer.concat([held, chunk]);
      while (held.length >= 4 && held.length >= 4 + held.readUInt32BE(0)) {
        const n = held.readUInt32BE(0);
        c.arrive(held.subarray(4, 4 + n));
        held = held.subarray(4 + n);
      }
    });
    socket.on("close", () => c.close());
    socket.on("error", () => {});
    return new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(c));
      socket.once("error", reject);
    });
  }

  private arrive(body: Uint8Array): void {
    this.frames.push(decoder.decode(body) as Frame);
    for (const w of this.waiters.splice(0)) w();
  }

  private close(): void {
    this.closed = true;
    this.closedNow();
    for (const w of this.waiters.splice(0)) w();
  }

  send(frame: Frame): void {
    this.out(encoder.encode(frame));
  }

  sendRaw(body: Uint8Array): void {
    this.out(body);
  }

  /** Wait until `done()` (checked at each frame), at most `ms`. */
  async until(done: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) throw new Error(`not ${what} within ${ms} ms${this.closed ? " (the connection closed)" : ""}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  /** The first frame (received so far or later) that `match` accepts; removed from `frames`. */
  async next(match: (f: Frame) => boolean, ms = 5000, what = "a frame"): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) throw new Error(`no ${what} within ${ms} ms${this.closed ? " (the connection closed)" : ""}; got ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  hello(): Promise<Frame> {
    return this.next((f) => f[0] === 0, 5000, "HELLO");
  }

  /** REQUEST (or AUTH with route null); resolves to the REPLY or ERROR frame. */
  async call(route: string | null, args: unknown, ms = 5000): Promise<Frame> {
    const id = this.nextId++;
    this.send(route === null ? [1, id, args] : [2, id, route, args]);
    return this.next((f) => (f[0] === 5 || f[0] === 6) && f[1] === id, ms, `the answer to ${route ?? "AUTH"}`);
  }

  /** The KICK frame, if one comes. */
  kicked(ms = 5000): Promise<Frame> {
    return this.next((f) => f[0] === 8, ms, "KICK");
  }

  terminate(): void {
    this.end();
  }
}

export const REPLY = 5;
export const ERROR = 6;
export const PUSH = 7;
