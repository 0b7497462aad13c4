/**
 * UDP links. There are no connections, so a listener keeps one virtual link per remote
 * address, and dialing is a connected datagram socket. Each frame is one datagram:
 *
 *     +---------------------+-----------------------+--------------------------------+
 *     | hello length: u16,  | the sender's HELLO    | one envelope (CBOR), the frame |
 *     | big endian (0: none)| envelope (CBOR)       |                                |
 *     +---------------------+-----------------------+--------------------------------+
 *
 * The sender's HELLO rides in every datagram of a link it dialed, because any datagram,
 * the first included, may be lost. Delivery is best-effort; RPC adds resends and duplicate
 * suppression above this (see service/sessions.ts and service/dispatch.ts). A virtual link
 * that hears nothing for `IDLE_MS` is closed.
 *
 * Test switch: LUANET_UDP_DROP=N drops every Nth datagram this process sends.
 * @internal
 */
import * as dgram from "node:dgram";
import { formatAddr, netaddr_ipv4, netaddr_ipv6, type NetAddr } from "../../stdlib/net.js";
import type { Link, LinkHandlers, Transport } from "./types.js";

/** The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes). */
export const MAX_DATAGRAM = 65_507;
/** What fits in a datagram beside its header and a HELLO of up to 512 bytes. */
export const UDP_FRAME_LIMIT = MAX_DATAGRAM - 2 - 512;
const IDLE_MS = 120_000;
const dropEvery = Number(process.env.LUANET_UDP_DROP ?? 0);
let sent = 0;

class UdpLink implements Link {
  readonly reliable = false;
  closed = false;
  /** The HELLO this side sends: the first frame queued on a link it dialed. */
  private hello: Uint8Array | null = null;
  private greeted = false;
  private idle: NodeJS.Timeout;

  constructor(
    private readonly socket: dgram.Socket,
    readonly remote: string,
    private readonly dialed: boolean,
    private readonly target: { port: number; address: string } | null,
    private handlers: LinkHandlers | null,
    private readonly maxFrameBytes: number,
    private readonly onGone: () => void = () => {},
  ) {
    this.idle = setTimeout(() => this.close(new Error(`no datagram for ${IDLE_MS / 1000} s`)), IDLE_MS).unref();
  }

  attach(handlers: LinkHandlers): void {
    this.handlers = handlers;
  }

  /** What fits in one datagram beside the header and our HELLO. */
  get maxFrame(): number {
    return Math.min(this.maxFrameBytes, MAX_DATAGRAM - 2 - (this.hello?.length ?? 0));
  }

  send(body: Uint8Array): void {
    if (this.closed) return;
    if (this.dialed && this.hello === null) {
      this.hello = body; // the Peer's HELLO: sent in front of every frame from now on
      return;
    }
    if (dropEvery > 0 && ++sent % dropEvery === 0) return;
    const helloLength = this.hello?.length ?? 0;
    const datagram = Buffer.allocUnsafe(2 + helloLength + body.length);
    datagram.writeUInt16BE(helloLength, 0);
    if (this.hello !== null) datagram.set(this.hello, 2);
    datagram.set(body, 2 + helloLength);
    // A datagram too large for the network is this frame's problem, not the link's.
    const done = (error: NodeJS.ErrnoException | null) => error && error.code !== "EMSGSIZE" && this.close(error);
    if (this.target === null) this.socket.send(datagram, done);
    else this.socket.send(datagram, this.target.port, this.target.address, done);
  }

  /** One datagram for this link. */
  receive(datagram: Buffer): void {
    this.idle.refresh();
    try {
      if (datagram.length < 2) throw new Error("a datagram shorter than its 2-byte header");
      const helloLength = datagram.readUInt16BE(0);
      if (2 + helloLength > datagram.length) throw new Error("a datagram shorter than its HELLO");
      if (!this.greeted && helloLength > 0) {
        this.greeted = true;
        this.handlers?.onFrame(datagram.subarray(2, 2 + helloLength));
      }
      this.handlers?.onFrame(datagram.subarray(2 + helloLength));
    } catch (error) {
      this.close(error as Error);
    }
  }

  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idle);
    if (this.dialed) this.socket.close();
    this.onGone();
    const handlers = this.handlers;
    this.handlers = null;
    handlers?.onClose(error);
  }
}

const socketType = (addr: NetAddr): dgram.SocketType => (addr.family === "inet6" ? "udp6" : "udp4");

function checkInet(addr: NetAddr): asserts addr is Exclude<NetAddr, { family: "local" }> {
  if (addr.family === "local") {
    throw new Error("Node.js has no UNIX datagram sockets: use SOCK_STREAM with netaddr_local, or SOCK_DGRAM with netaddr_ipv4/netaddr_ipv6");
  }
}

export const udpTransport: Transport = {
  connect(addr, handlers, maxFrame) {
    checkInet(addr);
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket(socketType(addr));
      socket.once("error", reject);
      socket.connect(addr.port, addr.ip, () => {
        socket.off("error", reject);
        const link = new UdpLink(socket, formatAddr(addr), true, null, handlers, maxFrame);
        socket.on("message", (datagram) => link.receive(datagram));
        // On a connected socket the kernel reports the peer's ICMP "port unreachable" as an error.
        socket.on("error", (error) => link.close(error));
        resolve(link);
      });
    });
  },

  listen(addr, accept, maxFrame) {
    checkInet(addr);
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket(socketType(addr));
      const links = new Map<string, UdpLink>();
      socket.once("error", reject);
      socket.on("message", (datagram, from) => {
        const key = `${from.address}|${from.port}`;
        let link = links.get(key);
        if (link === undefined) {
          const remote = from.family === "IPv6" ? `[${from.address}]:${from.port}` : `${from.address}:${from.port}`;
          link = new UdpLink(socket, remote, false, { port: from.port, address: from.address }, null, maxFrame, () => links.delete(key));
          links.set(key, link);
          link.attach(accept(link));
        }
        link.receive(datagram);
      });
      socket.bind(addr.port, addr.ip, () => {
        socket.off("error", reject);
        socket.on("error", () => {}); // per-datagram send errors reach the link's send callback
        const bound = socket.address();
        resolve({
          addr: addr.family === "inet6" ? netaddr_ipv6(bound.address, bound.port) : netaddr_ipv4(bound.address, bound.port),
          close: () => new Promise<void>((done) => {
            for (const link of [...links.values()]) link.close();
            socket.close(() => done());
          }),
        });
      });
    });
  },
};
