/**
 * A raw protocol client for tests that play a hostile or foreign peer: frames built by hand,
 * sockets that are tracked and destroyed when the test file ends, bounded waits.
 */
import { connect, type Socket } from "node:net";
import { after } from "node:test";
import { Encoder } from "cbor-x";
import { encode, PROTOCOL_VERSION, Type } from "../../runtime/wire/envelope.ts";
import { rssOf as procRss } from "../../tools/procs.ts";

/** Plain CBOR with none of luanet's checks: what a foreign or hostile peer may send. */
export const rawCbor = new Encoder({ useRecords: false });

/** `body` behind its 4-byte length. */
export function frame(body: Uint8Array): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, Buffer.from(body)]);
}

/** A HELLO frame claiming `name` (null: a process with no service) and a listener on `port`. */
export function helloFrame(name: string | null = null, port: number | null = null): Buffer {
  const addr = port === null ? null : { family: "inet" as const, ip: "127.0.0.1", port };
  return frame(encode([Type.HELLO, PROTOCOL_VERSION, name, addr, process.pid, port === null ? null : "stream"]));
}

/** A CALL frame as a foreign peer writes it (no deadline item). */
export const callFrame = (id: number, func: string, args: unknown): Buffer => frame(rawCbor.encode([Type.CALL, id, func, args]));

const sockets = new Set<Socket>();
after(() => {
  for (const socket of sockets) socket.destroy();
});

/** Connect to 127.0.0.1:`port`; resolves once connected. Destroyed when the test file ends. */
export function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("error", reject);
  });
}

/** Resolves true when `socket` closes within `ms`, false otherwise. */
export function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Connect, send `bytes`, and resolve whether the peer closed the connection within `ms`. */
export async function closedBy(port: number, bytes: Buffer, ms = 5000): Promise<boolean> {
  const socket = await dial(port);
  socket.on("error", () => {});
  socket.write(bytes);
  const closed = await closesWithin(socket, ms);
  socket.destroy();
  return closed;
}

/** Resident memory of a process in bytes, from /proc (Linux); throws if it cannot be read. */
export function rssOf(pid: number): number {
  const rss = procRss(pid);
  if (rss === null) throw new Error(`cannot read the rss of pid ${pid} from /proc`);
  return rss;
}

/** The port a service logged it listens on ("<name> listening on 127.0.0.1:<port>"). */
export function listenPort(stderr: string, name: string): number {
  const m = new RegExp(`${name} listening on 127\\.0\\.0\\.1:(\\d+)`).exec(stderr);
  if (m === null) throw new Error(`${name} has not logged its listen address`);
  return Number(m[1]);
}
