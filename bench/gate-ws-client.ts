/**
 * A minimal WebSocket client for the gate benchmark's load (bench/gate-clients.ts): the HTTP
 * upgrade, unmasked binary messages in, masked binary messages out (RFC 6455), nothing else.
 * The load must not be what sets the pace, on a machine where it and the server share two
 * cores: the `ws` package's client costs about as much per received message as its server does
 * per sent one (4.5 µs against 4.3 on the broadcast benchmark), so with it the benchmark
 * measures the client as much as the server. This one costs about 3.2 µs, the servers 3.3-3.6
 * while each uses a full core. Every connection reads into one buffer shared by all (`onread`),
 * messages are handed out where they lie, and only a message split across reads is copied.
 *
 * A message the servers never send here (text, fragmented, ping, close) fails the connection,
 * which the caller turns into a failed run.
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

/** What every connection of the process reads into: a read is handled before the next. */
const shared = Buffer.allocUnsafe(256 * 1024);
const HANDSHAKE_END = Buffer.from("\r\n\r\n");

export interface WsClient {
  send(body: Uint8Array): void;
  close(): void;
}

export interface WsEvents {
  /** One binary message; `body` is valid only during the call. */
  message(body: Buffer): void;
  /** The connection ended (an error, a close, or a message outside what this client reads). */
  closed(why: string): void;
}

/** Connect to ws://host:port/; resolves once the server accepted the upgrade. */
export function openWs(host: string, port: number, events: WsEvents, timeoutMs: number): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const mask = randomBytes(4);
    let upgraded = false;
    let ended = false;
    /** A partial message (or handshake) from earlier reads. */
    let pending: Buffer | null = null;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      socket.destroy();
      if (upgraded) events.closed(why);
      else reject(new Error(`ws://${host}:${port}/: ${why}`));
    };
    const timer = setTimeout(() => end(`no upgrade within ${timeoutMs} ms`), timeoutMs);
    /** Hand out every whole message in `buf`; returns where the unread rest begins. */
    const messages = (buf: Buffer): number => {
      let at = 0;
      while (buf.length - at >= 2) {
        const b0 = buf[at]!, b1 = buf[at + 1]!;
        if (b0 !== 0x82 || (b1 & 0x80) !== 0) {
          end(`a message this client does not read (first bytes ${b0.toString(16)} ${b1.toString(16)})`);
          return buf.length;
        }
        let len = b1 & 0x7f, head = 2;
        if (len === 126) {
          if (buf.length - at < 4) break;
          len = buf.readUInt16BE(at + 2);
          head = 4;
        } else if (len === 127) {
          if (buf.length - at < 10) break;
          len = Number(buf.readBigUInt64BE(at + 2));
          head = 10;
        }
        if (buf.length - at - head < len) break;
        events.message(buf.subarray(at + head, at + head + len));
        if (ended) return buf.length;
        at += head + len;
      }
      return at;
    };
    const read = (n: number) => {
      let buf = shared.subarray(0, n);
      if (pending !== null) buf = Buffer.concat([pending, buf]);
      pending = null;
      let at = 0;
      if (!upgraded) {
        const stop = buf.indexOf(HANDSHAKE_END);
        if (stop < 0) return void (pending = Buffer.from(buf));
        const status = buf.toString("latin1", 0, buf.indexOf("\r\n"));
        if (!/^HTTP\/1\.1 101 /.test(status)) return end(`the upgrade was refused: ${status}`);
        upgraded = true;
        clearTimeout(timer);
        at = stop + HANDSHAKE_END.length;
        resolve(client);
      }
      at += messages(buf.subarray(at));
      if (at < buf.length && !ended) pending = Buffer.from(buf.subarray(at));
    };
    const socket: Socket = connect({ host, port, onread: { buffer: shared, callback: (n) => (read(n), true) } });
    socket.setNoDelay(true);
    socket.on("connect", () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.on("error", (error) => end(error.message));
    socket.on("close", () => end("the connection closed"));
    const client: WsClient = {
      send(body: Uint8Array) {
        if (ended) return;
        const len = body.length;
        const head = len < 126 ? 6 : len < 65_536 ? 8 : 14;
        const out = Buffer.allocUnsafe(head + len);
        out[0] = 0x82;
        if (len < 126) out[1] = 0x80 | len;
        else if (len < 65_536) (out[1] = 0x80 | 126), out.writeUInt16BE(len, 2);
        else (out[1] = 0x80 | 127), out.writeBigUInt64BE(BigInt(len), 2);
        mask.copy(out, head - 4);
        for (let i = 0; i < len; i++) out[head + i] = body[i]! ^ mask[i & 3]!;
        socket.write(out);
      },
      close() {
        ended = true;
        socket.destroy();
      },
    };
  });
}
