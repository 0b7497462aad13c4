/**
 * Stream links: TCP (IPv4/IPv6) and UNIX domain stream sockets, with length-prefixed frames.
 * @internal
 */
import { existsSync, lstatSync, unlinkSync } from "node:fs";
import * as net from "node:net";
import { formatAddr, netaddr_ipv4, netaddr_ipv6, type NetAddr } from "../../stdlib/net.js";
import { log } from "../log.js";
import { FrameDecoder, FrameWriter } from "../wire/frame.js";
import type { Link, LinkHandlers, Transport } from "./types.js";

class StreamLink implements Link {
  readonly reliable = true;
  private readonly writer: FrameWriter;
  private handlers: LinkHandlers | null = null;
  closed = false;

  constructor(private readonly socket: net.Socket, readonly remote: string, readonly maxFrame: number) {
    socket.setNoDelay(true);
    this.writer = new FrameWriter((data) => {
      if (!this.closed) socket.write(data);
    });
    const decoder = new FrameDecoder(maxFrame);
    socket.on("data", (chunk: Buffer) => {
      try {
        decoder.push(chunk, (body) => this.handlers!.onFrame(body));
      } catch (error) {
        this.close(error as Error);
      }
    });
    socket.on("error", (error) => this.gone(error));
    socket.on("close", () => this.gone());
  }

  attach(handlers: LinkHandlers): void {
    this.handlers = handlers;
  }

  send(body: Uint8Array): void {
    if (!this.closed) this.writer.send(body);
  }

  close(error?: Error): void {
    if (this.closed) return;
    if (error === undefined) {
      this.writer.flush();
      this.socket.end();
    } else {
      this.socket.destroy();
    }
    this.gone(error);
  }

  private gone(error?: Error): void {
    if (this.closed && this.handlers === null) return;
    this.closed = true;
    const handlers = this.handlers;
    this.handlers = null;
    handlers?.onClose(error);
  }
}

/**
 * A UNIX socket file left by a process that died keeps anyone from listening there. If nobody
 * answers on it, it is stale: remove it. If someone does, the address is in use.
 */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw Object.assign(new Error(`${path} exists and is not a socket`), { code: "EEXIST" });
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw Object.assign(new Error(`address in use: another process is listening on unix:${path}`), { code: "EADDRINUSE" });
  unlinkSync(path);
}

function socketOptions(addr: NetAddr): net.NetConnectOpts {
  return addr.family === "local" ? { path: addr.path } : { host: addr.ip, port: addr.port };
}

export const streamTransport: Transport = {
  connect(addr, handlers, maxFrame, timeoutMs) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketOptions(addr));
      const fail = (error: Error) => reject(error);
      socket.once("error", fail);
      // Unanswered SYNs are retried by the kernel for about two minutes, ever more slowly; give up
      // sooner, so the next attempt looks the name up again and, if the host is back, finds it.
      socket.setTimeout(timeoutMs, () => socket.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })));
      socket.once("connect", () => {
        socket.setTimeout(0);
        socket.off("error", fail);
        const link = new StreamLink(socket, formatAddr(addr), maxFrame);
        link.attach(handlers);
        resolve(link);
      });
    });
  },

  async listen(addr, accept, maxFrame, maxConnections) {
    if (addr.family === "local") await clearStaleSocket(addr.path);
    return new Promise((resolve, reject) => {
      const sockets = new Set<net.Socket>();
      const server = net.createServer((socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        const remote = socket.remoteAddress === undefined ? "unix" : `${socket.remoteAddress}:${socket.remotePort}`;
        const link = new StreamLink(socket, remote, maxFrame);
        link.attach(accept(link));
      });
      server.maxConnections = maxConnections;
      let refused = 0;
      server.on("drop", () => {
        if (refused++ === 0) {
          setTimeout(() => {
            log.warn(`refused ${refused} connection(s) on ${formatAddr(addr)}: already at the maximum of ${maxConnections} (luanet.Configure({ maxConnections }))`);
            refused = 0;
          }, 1000).unref();
        }
      });
      server.once("error", reject);
      server.listen(addr.family === "local" ? { path: addr.path } : { host: addr.ip, port: addr.port }, () => {
        server.off("error", reject);
        const bound = server.address();
        const actual: NetAddr = typeof bound === "object" && bound !== null
          ? (addr.family === "inet6" ? netaddr_ipv6(bound.address, bound.port) : netaddr_ipv4(bound.address, bound.port))
          : addr;
        resolve({
          addr: actual,
          close: () => new Promise<void>((done) => {
            server.close(() => done()); // also removes a UNIX socket's file
            for (const socket of sockets) socket.destroy();
          }),
        });
      });
    });
  },
};
