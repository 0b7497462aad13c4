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
 * With a cluster secret, each datagram is wrapped as security/datagram.ts describes: a handshake
 * opens a session per link, and every datagram after it is signed and numbered.
 *
 * Test switch: LUANET_UDP_DROP=N drops every Nth datagram this process sends.
 * @internal
 */
import * as dgram from "node:dgram";
import { formatAddr, netaddr_ipv4, netaddr_ipv6, type NetAddr } from "../../stdlib/net.js";
import { acceptAnswer, answer, challenge, challengeNonce, DATA_OVERHEAD, Kind, RETRY, type DatagramSession } from "../security/datagram.js";
import { AuthError, HANDSHAKE_TIMEOUT_MS, NO_SECRET, nonce } from "../security/handshake.js";
import { refused } from "../security/refusals.js";
import { security } from "../security/settings.js";
import type { Link, LinkHandlers, Transport } from "./types.js";

/** The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes). */
export const MAX_DATAGRAM = 65_507;
/** What fits in a datagram beside its header and a HELLO of up to 512 bytes. */
export const UDP_FRAME_LIMIT = MAX_DATAGRAM - 2 - 512;
const IDLE_MS = 120_000;
/** How often an unanswered CHALLENGE is sent again. */
const CHALLENGE_EVERY_MS = 100;
const dropEvery = Number(process.env.LUANET_UDP_DROP ?? 0);
let sent = 0;

class UdpLink implements Link {
  readonly reliable = false;
  closed = false;
  /** The HELLO this side sends: the first frame queued on a link it dialed. */
  private hello: Uint8Array | null = null;
  private greeted = false;
  private idle: NodeJS.Timeout;
  /** With a cluster secret: the session datagrams are signed with, and (listener side) the one a
   * newer handshake from the same address opened, which replaces it once the dialer uses it. */
  session: DatagramSession | null = null;
  next: DatagramSession | null = null;

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

  // Datagrams are never queued: a full socket buffer drops them, as the network may.
  readonly buffered = 0;
  drained(): Promise<void> {
    return Promise.resolve();
  }
  pause(): void {}
  resume(): void {}
  readonly paused = false;

  /** What fits in one datagram beside the header and our HELLO. */
  get maxFrame(): number {
    return Math.min(this.maxFrameBytes, MAX_DATAGRAM - 2 - (this.hello?.length ?? 0) - (security().secret === null ? 0 : DATA_OVERHEAD));
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
    this.transmit(this.session === null ? datagram : this.session.seal(datagram));
  }

  transmit(datagram: Buffer): void {
    // A datagram too large for the network is this frame's problem, not the link's.
    const done = (error: NodeJS.ErrnoException | null) => error && error.code !== "EMSGSIZE" && this.close(error);
    if (this.target === null) this.socket.send(datagram, done);
    else this.socket.send(datagram, this.target.port, this.target.address, done);
  }

  /** A signed datagram's content, or null if it fails the check (wrong key, forged, replayed). */
  unseal(datagram: Buffer): Buffer | null {
    const payload = this.session?.open(datagram) ?? null;
    if (payload !== null || this.next === null) return payload;
    const renewed = this.next.open(datagram);
    if (renewed !== null) [this.session, this.next] = [this.next, null];
    return renewed;
  }

  get accepted(): boolean {
    return this.handlers !== null;
  }

  /** One datagram for this link. */
  receive(datagram: Buffer): void {
    this.idle.refresh();
    try {
      if (datagram.length === 1 && datagram[0] === Kind.RETRY) throw new AuthError(NO_SECRET);
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

/**
 * The dialer's side of the UDP handshake: CHALLENGE every CHALLENGE_EVERY_MS until an ANSWER
 * checks (then `ready`), or `timeoutMs` passes (then `fail`); again whenever the listener says
 * RETRY, signing with the old session meanwhile.
 */
class DialerHandshake {
  private mine = nonce();
  private timer: NodeJS.Timeout | null = null;
  private ready: (() => void) | null;

  constructor(private readonly link: UdpLink, private readonly secret: Buffer, private readonly timeoutMs: number,
    ready: () => void, private readonly fail: (error: Error) => void) {
    this.ready = ready;
    this.start();
  }

  private start(): void {
    this.mine = nonce();
    const until = performance.now() + this.timeoutMs;
    const tick = () => {
      if (this.link.closed) return;
      if (performance.now() > until) {
        const error = new AuthError(`no answer to the cluster handshake within ${this.timeoutMs} ms (is it up, with the same cluster secret?)`);
        this.fail(error);
        return this.link.close(error);
      }
      this.link.transmit(challenge(this.mine));
      this.timer = setTimeout(tick, CHALLENGE_EVERY_MS);
    };
    tick();
  }

  receive(datagram: Buffer): void {
    if (datagram[0] === Kind.ANSWER) {
      const session = acceptAnswer(this.secret, this.mine, datagram);
      if (session === null) {
        if (this.ready === null) return refused(this.link.remote, "an answer to our cluster handshake that fails its check");
        const error = new AuthError("it failed the cluster handshake: its answer does not check (a different cluster secret?)");
        clearTimeout(this.timer!);
        this.fail(error);
        return this.link.close(error);
      }
      clearTimeout(this.timer!);
      this.timer = null;
      this.link.session = session;
      const ready = this.ready;
      this.ready = null;
      return ready?.();
    }
    if (datagram[0] === Kind.RETRY && datagram.length === 1) {
      if (this.timer === null) this.start();
      return;
    }
    const payload = this.link.unseal(datagram);
    if (payload === null) return refused(this.link.remote, "a datagram that fails its cluster-secret check");
    this.link.receive(payload);
  }
}

const socketType = (addr: NetAddr): dgram.SocketType => (addr.family === "inet6" ? "udp6" : "udp4");

function checkInet(addr: NetAddr): asserts addr is Exclude<NetAddr, { family: "local" }> {
  if (addr.family === "local") {
    throw new Error("Node.js has no UNIX datagram sockets: use SOCK_STREAM with netaddr_local, or SOCK_DGRAM with netaddr_ipv4/netaddr_ipv6");
  }
}

export const udpTransport: Transport = {
  connect(addr, handlers, maxFrame, timeoutMs) {
    checkInet(addr);
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket(socketType(addr));
      socket.once("error", reject);
      socket.connect(addr.port, addr.ip, () => {
        socket.off("error", reject);
        const link = new UdpLink(socket, formatAddr(addr), true, null, null, maxFrame);
        // On a connected socket the kernel reports the peer's ICMP "port unreachable" as an error.
        socket.on("error", (error) => {
          link.close(error);
          reject(error);
        });
        const secret = security().secret;
        if (secret === null) {
          socket.on("message", (datagram) => link.receive(datagram));
          link.attach(handlers);
          return resolve(link);
        }
        const handshake = new DialerHandshake(link, secret, timeoutMs, () => {
          link.attach(handlers);
          resolve(link);
        }, reject);
        socket.on("message", (datagram) => handshake.receive(datagram));
      });
    });
  },

  listen(addr, accept, maxFrame, maxConnections) {
    checkInet(addr);
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket(socketType(addr));
      const links = new Map<string, UdpLink>();
      socket.once("error", reject);
      const secret = security().secret;
      const remoteOf = (from: dgram.RemoteInfo) => (from.family === "IPv6" ? `[${from.address}]:${from.port}` : `${from.address}:${from.port}`);
      const open = (key: string, from: dgram.RemoteInfo): UdpLink => {
        const link = new UdpLink(socket, remoteOf(from), false, { port: from.port, address: from.address }, null, maxFrame, () => links.delete(key));
        links.set(key, link);
        return link;
      };
      /** With a secret: a CHALLENGE (re)opens a session, anything else must be signed in one. */
      const receiveSigned = (secret: Buffer, link: UdpLink | undefined, key: string, from: dgram.RemoteInfo, datagram: Buffer): void => {
        const theirs = challengeNonce(datagram);
        if (theirs !== null) {
          if (link === undefined) {
            if (links.size >= maxConnections) return refused(remoteOf(from), `already at the maximum of ${maxConnections} UDP peers (luanet.Configure({ maxConnections }))`);
            const pending = (link = open(key, from));
            setTimeout(() => {
              if (pending.accepted) return;
              refused(pending.remote, `no signed datagram within ${HANDSHAKE_TIMEOUT_MS} ms of its challenge (a different cluster secret?)`);
              pending.close();
            }, HANDSHAKE_TIMEOUT_MS).unref();
          }
          const answered = answer(secret, theirs);
          if (link.session === null) link.session = answered.session;
          else link.next = answered.session;
          return link.transmit(answered.datagram);
        }
        if (link === undefined) {
          socket.send(RETRY, from.port, from.address);
          return refused(remoteOf(from), "a datagram outside any cluster session (no cluster secret, or this service restarted)");
        }
        const payload = link.unseal(datagram);
        if (payload === null) return refused(link.remote, "a datagram that fails its cluster-secret check (forged, replayed or a different secret)");
        if (!link.accepted) link.attach(accept(link));
        link.receive(payload);
      };
      socket.on("message", (datagram, from) => {
        const key = `${from.address}|${from.port}`;
        let link = links.get(key);
        if (secret !== null) return receiveSigned(secret, link, key, from, datagram);
        if (link === undefined) {
          link = open(key, from);
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
