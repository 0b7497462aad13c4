/**
 * UDP links. There are no connections, so a listener keeps one virtual link per dialer (its
 * address and random connection id, see udp-route.ts), and dialing is a connected datagram
 * socket. After the route header of udp-route.ts (on what a dialer sends), a datagram is:
 *
 *     +---------------------+-----------------------+--------------------------------+
 *     | greeting length:    | the dialer's greeting | one frame body, or a batch of  |
 *     | u16 BE (0: none)    | (its first frame)     | them (udp-batch.ts)            |
 *     +---------------------+-----------------------+--------------------------------+
 *
 * To a peer that takes batches (udp-route.ts says how a side learns it), the frames sent in one
 * turn are packed into datagrams of at most `udpBatchBytes`, sent on a microtask once the code
 * running now is done (the scheduler's drain, itself a microtask, has sent them all); a frame
 * too large for one goes alone, at once. To any other, each frame is one datagram, sent at once.
 *
 * A dialer first sends PROBEs until the listener's COOKIE comes (its address receives), then
 * echoes the cookie until the listener answers anything else. The greeting given to `connect`
 * (the service layer's HELLO; opaque here) rides in every datagram of a link it dialed, because
 * any datagram, the first included, may be lost; it is never sent alone. The receiver hands the
 * first greeting it sees on a link to its handlers before that datagram's frame, and skips later
 * ones. A listener's datagrams carry none (length 0).
 * Delivery is best-effort; RPC adds resends and duplicate suppression above this layer
 * (docs/protocol.md, section 2). A virtual link that hears nothing for `IDLE_MS` is closed.
 *
 * With a cluster secret, each datagram's payload is wrapped as security/datagram.ts describes: a
 * handshake opens a session per link, and every datagram after it is signed and numbered.
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
import { warnEverySecond } from "../log.js";
import { Admission } from "./admission.js";
import type { Link, LinkHandlers, Transport, TransportLimits } from "./types.js";
import { Batch, lone, unbatch, type Payload } from "./udp-batch.js";
import { BATCH_COOKIE, cookie, COOKIE_DATAGRAM, ECHO_BYTES, echoChecks, echoRoute, isCookie, newRoute, Route, routeBytes, ROUTE_BYTES, saysBatches } from "./udp-route.js";

/** The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes). */
export const MAX_DATAGRAM = 65_507;
/** What fits in a datagram beside its route and frame headers and a greeting of up to 512 bytes. */
export const UDP_FRAME_LIMIT = MAX_DATAGRAM - ECHO_BYTES - 2 - 512;
const IDLE_MS = 120_000;
/** How often an unanswered PROBE or CHALLENGE is sent again. */
const RESEND_MS = 100;
const dropEvery = Number(process.env.LUANET_UDP_DROP ?? 0);
let sent = 0;
/** True for the datagrams LUANET_UDP_DROP says to drop. */
const dropped = () => dropEvery > 0 && ++sent % dropEvery === 0;

class UdpLink implements Link {
  readonly reliable = false;
  closed = false;
  /** Whether the other side's greeting has reached the handlers. */
  private greeted = false;
  private idle: NodeJS.Timeout;
  /** With a cluster secret: the session datagrams are signed with, and (listener side) the one a
   * newer handshake from the same address opened, which replaces it once the dialer uses it. */
  session: DatagramSession | null = null;
  next: DatagramSession | null = null;
  /** Dialer: the route header in front of each datagram (an ECHO until the listener answers). */
  private route: Buffer | null;
  /** Whether the other side takes batches: a dialer's listener sent a BATCH_COOKIE; a listener's
   * dialer said so in its latest datagram (udp-route.ts). */
  peerBatches = false;
  /** [greeting length: u16][greeting], in front of every payload. */
  private readonly head: Buffer;
  /** The frames waiting for the end of this turn, to a peer that takes batches. */
  private readonly batch: Batch;
  private flushing = false;

  constructor(
    private readonly socket: dgram.Socket,
    readonly remote: string,
    /** Dialer: the FRAME route header of this link; null on a listener's link. */
    private readonly frameRoute: Buffer | null,
    private readonly target: { port: number; address: string } | null,
    private handlers: LinkHandlers | null,
    private readonly maxFrameBytes: number,
    /** Read live: udpBatchBytes. */
    private readonly limits: TransportLimits,
    /** Dialer: the greeting sent in front of every frame (empty on a listener's link). */
    private readonly greeting: Uint8Array,
    private readonly onGone: () => void = () => {},
  ) {
    this.route = frameRoute;
    this.head = Buffer.allocUnsafe(2 + greeting.length);
    this.head.writeUInt16BE(greeting.length, 0);
    this.head.set(greeting, 2);
    this.batch = new Batch(this.head);
    this.idle = setTimeout(() => this.close(new Error(`no datagram for ${IDLE_MS / 1000} s`)), IDLE_MS).unref();
  }

  attach(handlers: LinkHandlers): void {
    this.handlers = handlers;
  }

  /** Frames still to reach the handlers before `proven` is called (see admission.ts). */
  private untilProven = 0;
  private proven: (() => void) | null = null;

  /** Call `proven` once `frames` more frames have reached the handlers. */
  probation(frames: number, proven: () => void): void {
    this.untilProven = frames;
    this.proven = proven;
  }

  private delivered(): void {
    if (--this.untilProven > 0) return;
    const proven = this.proven!;
    this.proven = null;
    proven();
  }

  /** Datagram bytes received for this link and handed to its socket. */
  bytesIn = 0;
  bytesOut = 0;

  // Datagrams are never queued: a full socket buffer drops them, as the network may. Frames wait
  // for a batch only until the end of the turn, one datagram's worth at most (udp-batch.ts).
  readonly buffered = 0;
  drained(): Promise<void> {
    return Promise.resolve();
  }
  finished(): Promise<void> {
    return Promise.resolve();
  }
  pause(): void {}
  resume(): void {}
  readonly paused = false;

  /** What fits in one datagram beside the headers and our greeting. */
  get maxFrame(): number {
    return Math.min(this.maxFrameBytes, datagramRoom(this.frameRoute === null ? 0 : ECHO_BYTES) - this.greeting.length);
  }

  send(body: Uint8Array): void {
    if (this.closed) return;
    const room = this.batchRoom();
    if (!this.peerBatches || !this.batch.fits(body.length, room)) {
      this.flush(); // what was queued before goes first
      return this.emit(lone(this.head, body));
    }
    if (!this.batch.add(body, room)) {
      this.flush();
      this.batch.add(body, room);
    }
    if (!this.flushing) {
      this.flushing = true;
      queueMicrotask(this.flushLater);
    }
  }

  private readonly flushLater = (): void => {
    this.flushing = false;
    if (!this.closed) this.flush();
  };

  /** Send the frames queued for a batch now. */
  private flush(): void {
    const payload = this.batch.take();
    if (payload !== null) this.emit(payload);
  }

  /** Payload bytes of a batched datagram: udpBatchBytes less the longest route header this side
   * sends and the signature's overhead. */
  private batchRoom(): number {
    const route = this.frameRoute === null ? 0 : ECHO_BYTES;
    return Math.min(this.limits.udpBatchBytes, MAX_DATAGRAM) - route - (security().secret === null ? 0 : DATA_OVERHEAD);
  }

  /** Send one payload behind the route header: signed in a session, else as it is. */
  private emit({ buf, start, end }: Payload): void {
    if (this.session !== null) return this.write(this.session.sealAt(buf, start, end, this.route));
    const from = start - (this.route?.length ?? 0);
    this.route?.copy(buf, from);
    this.write(buf.subarray(from, end));
  }

  /** Send a handshake datagram or a PROBE: a dialer's behind its route header. */
  transmit(payload: Buffer): void {
    this.write(this.route === null ? payload : Buffer.concat([this.route, payload]));
  }

  /** Send one whole datagram: a dialer's on its connected socket, a listener's to the link's address. */
  write(datagram: Buffer): void {
    if (dropped()) return;
    this.bytesOut += datagram.length;
    // A datagram too large for the network is this frame's problem, not the link's.
    const done = (error: NodeJS.ErrnoException | null) => error && error.code !== "EMSGSIZE" && this.close(error);
    if (this.target === null) this.socket.send(datagram, done);
    else this.socket.send(datagram, this.target.port, this.target.address, done);
  }

  /** Dialer: the listener sent a COOKIE: echo it from now on, until it answers anything else. */
  echo(cookieDatagram: Buffer): void {
    this.route = echoRoute(this.frameRoute!, cookieDatagram);
    this.peerBatches = cookieDatagram[0] === BATCH_COOKIE;
  }

  /** Dialer: the listener answered, so it holds this link: the cookie need not ride any more. */
  heard(): void {
    this.route = this.frameRoute;
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

  /** One datagram for this link, its frame header at `start`. */
  receive(datagram: Buffer, start: number): void {
    this.idle.refresh();
    this.bytesIn += datagram.length;
    try {
      if (datagram.length === start + 1 && datagram[start] === Kind.RETRY) throw new AuthError(NO_SECRET);
      if (datagram.length < start + 2) throw new Error("a datagram shorter than its 2-byte header");
      const greetingLength = datagram.readUInt16BE(start);
      const body = start + 2 + greetingLength;
      if (body > datagram.length) throw new Error("a datagram shorter than the greeting it announces");
      if (!this.greeted && greetingLength > 0) {
        this.greeted = true;
        this.handlers?.onFrame(datagram.subarray(start + 2, body));
        if (this.proven !== null) this.delivered();
      }
      unbatch(datagram, body, this.deliver);
    } catch (error) {
      this.close(error as Error);
    }
  }

  private readonly deliver = (frame: Buffer): void => {
    this.handlers?.onFrame(frame);
    if (this.proven !== null) this.delivered();
  };

  close(error?: Error): void {
    if (this.closed) return;
    if (error === undefined) this.flush();
    this.closed = true;
    clearTimeout(this.idle);
    if (this.frameRoute !== null) this.socket.close();
    this.onGone();
    const handlers = this.handlers;
    this.handlers = null;
    handlers?.onClose(error);
  }
}

/** `send()` every RESEND_MS until `stop()` or `ms` passes (then `expired()`). */
function resendFor(link: UdpLink, send: () => void, ms: number, expired: () => void): { stop(): void } {
  const until = performance.now() + ms;
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    if (link.closed) return;
    if (performance.now() > until) return expired();
    send();
    timer = setTimeout(tick, RESEND_MS);
  };
  tick();
  return { stop: () => timer !== null && clearTimeout(timer) };
}

/**
 * The dialer's side of the UDP handshake: CHALLENGE every RESEND_MS until an ANSWER checks (then
 * `ready`), or `timeoutMs` passes (then `fail`); again whenever the listener says RETRY or sends
 * a COOKIE (it forgot this link), signing with the old session meanwhile.
 */
class DialerHandshake {
  private mine = nonce();
  private resending: { stop(): void } | null = null;
  private ready: (() => void) | null;

  constructor(private readonly link: UdpLink, private readonly secret: Buffer, private readonly timeoutMs: number,
    ready: () => void, private readonly fail: (error: Error) => void) {
    this.ready = ready;
    this.start();
  }

  /** Handshake (again), unless already at it. */
  start(): void {
    if (this.resending !== null) return;
    this.mine = nonce();
    this.resending = resendFor(this.link, () => this.link.transmit(challenge(this.mine)), this.timeoutMs, () => {
      const error = new AuthError(`no answer to the cluster handshake within ${this.timeoutMs} ms (is it up, with the same cluster secret?)`);
      this.fail(error);
      this.link.close(error);
    });
  }

  receive(datagram: Buffer): void {
    if (datagram[0] === Kind.ANSWER) {
      const session = acceptAnswer(this.secret, this.mine, datagram);
      if (session === null) {
        if (this.ready === null) return refused(this.link.remote, "an answer to our cluster handshake that fails its check");
        const error = new AuthError("it failed the cluster handshake: its answer does not check (a different cluster secret?)");
        this.resending?.stop();
        this.fail(error);
        return this.link.close(error);
      }
      this.resending?.stop();
      this.resending = null;
      this.link.session = session;
      this.link.heard();
      const ready = this.ready;
      this.ready = null;
      return ready?.();
    }
    if (datagram[0] === Kind.RETRY && datagram.length === 1) return this.start();
    const payload = this.link.unseal(datagram);
    if (payload === null) return refused(this.link.remote, "a datagram that fails its cluster-secret check");
    this.link.heard();
    this.link.receive(payload, 0);
  }
}

/** Bytes of a datagram left for greeting and frame behind a route header of `route` bytes, the
 * 2-byte greeting length and (with a cluster secret) the signature's overhead. */
const datagramRoom = (route: number): number => MAX_DATAGRAM - route - 2 - (security().secret === null ? 0 : DATA_OVERHEAD);

const socketType = (addr: NetAddr): dgram.SocketType => (addr.family === "inet6" ? "udp6" : "udp4");

function checkInet(addr: NetAddr): asserts addr is Exclude<NetAddr, { family: "local" }> {
  if (addr.family === "local") {
    throw new Error("Node.js has no UNIX datagram sockets: use SOCK_STREAM with netaddr_local, or SOCK_DGRAM with netaddr_ipv4/netaddr_ipv6");
  }
}

export const udpTransport: Transport = {
  connect(addr, open, { limits, timeoutMs, greeting }) {
    checkInet(addr);
    // Copied: it is sent for as long as the link lives, whatever the caller does with its buffer.
    const ours = Buffer.from(greeting);
    if (ours.length >= datagramRoom(ECHO_BYTES)) {
      return Promise.reject(new RangeError(`a greeting of ${ours.length} bytes leaves no room for a frame in one UDP datagram`));
    }
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket(socketType(addr));
      socket.unref(); // a dialed link holds no process open: see Transport.connect
      socket.once("error", reject);
      socket.connect(addr.port, addr.ip, () => {
        socket.off("error", reject);
        const { frame, probe } = newRoute();
        const link = new UdpLink(socket, formatAddr(addr), frame, null, null, limits.maxFrameBytes, limits, ours);
        // On a connected socket the kernel reports the peer's ICMP "port unreachable" as an error.
        socket.on("error", (error) => {
          link.close(error);
          reject(error);
        });
        const secret = security().secret;
        const ready = () => {
          link.attach(open(link));
          resolve(link);
        };
        let handshake: DialerHandshake | null = null;
        // First, show the listener that this address receives: PROBE until its COOKIE comes.
        let probing: { stop(): void } | null = resendFor(link, () => link.write(probe), timeoutMs, () => {
          const error = new Error(`no answer within ${timeoutMs} ms (is it up?)`);
          reject(error);
          link.close(error);
        });
        socket.on("message", (datagram) => {
          if (isCookie(datagram)) {
            link.echo(datagram);
            if (probing === null) return handshake?.start(); // it forgot this link (it restarted)
            probing.stop();
            probing = null;
            if (secret === null) return ready();
            handshake = new DialerHandshake(link, secret, timeoutMs, ready, reject);
            return;
          }
          if (handshake !== null) return handshake.receive(datagram);
          if (probing !== null) return; // nothing but a COOKIE comes before the COOKIE
          link.heard();
          link.receive(datagram, 0);
        });
      });
    });
  },

  listen(addr, accept, limits) {
    checkInet(addr);
    const { maxFrameBytes: maxFrame, maxConnections } = limits; // read now, as the listener opens
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket(socketType(addr));
      const links = new Map<string, UdpLink>();
      socket.once("error", reject);
      const secret = security().secret;
      const remoteOf = (from: dgram.RemoteInfo) => (from.family === "IPv6" ? `[${from.address}]:${from.port}` : `${from.address}:${from.port}`);
      // Places as on a stream listener (admission.ts): at most maxConnections links, and
      // maxConnectionsPerSource from one IP; a new link takes the place of the oldest that has
      // not yet carried its greeting and one more frame (with a secret: that has not authenticated).
      const admission = new Admission(() => ({ max: maxConnections, perSource: limits.maxConnectionsPerSource }), warnEverySecond((n) =>
        `closed ${n} UDP link(s) that had not yet sent a request, to make room for new ones (luanet.Configure({ maxConnections, maxConnectionsPerSource }))`));
      /** A new link for a dialer that echoed its cookie; null (and logged) when every place is in use. */
      const open = (key: string, from: dgram.RemoteInfo): UdpLink | null => {
        let link: UdpLink | null = null;
        const place = admission.admit(() => link?.close(new Error("displaced by a newer link: it had sent no request")), from.address);
        if (place === null) {
          refused(remoteOf(from), `already at the maximum of ${maxConnections} UDP links (or ${limits.maxConnectionsPerSource} from one address), every one in use (luanet.Configure({ maxConnections, maxConnectionsPerSource }))`);
          return null;
        }
        link = new UdpLink(socket, remoteOf(from), null, { port: from.port, address: from.address }, null, maxFrame, limits, Buffer.alloc(0), () => {
          links.delete(key);
          admission.leave(place);
        });
        link.probation(2, () => admission.prove(place));
        links.set(key, link);
        return link;
      };
      /** With a secret: a CHALLENGE (re)opens a session, anything else must be signed in one. */
      const receiveSigned = (secret: Buffer, link: UdpLink | undefined, key: string, from: dgram.RemoteInfo, datagram: Buffer, batches: boolean): void => {
        const theirs = challengeNonce(datagram);
        if (theirs !== null) {
          if (link === undefined) {
            const pending = open(key, from);
            if (pending === null) return;
            link = pending;
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
          if (!dropped()) socket.send(RETRY, from.port, from.address);
          return refused(remoteOf(from), "a datagram outside any cluster session (no cluster secret, or this service restarted)");
        }
        const payload = link.unseal(datagram);
        if (payload === null) return refused(link.remote, "a datagram that fails its cluster-secret check (forged, replayed or a different secret)");
        link.peerBatches = batches; // believed once the datagram checks: its route header is not signed
        if (!link.accepted) link.attach(accept(link));
        link.receive(payload, 0);
      };
      socket.on("message", (datagram, from) => {
        if (datagram.length < ROUTE_BYTES) return;
        const cid = datagram.readUInt32BE(0);
        const kind = datagram[4];
        const key = `${from.address}|${from.port}|${cid}`;
        let link = links.get(key);
        const start = routeBytes(kind); // 0: a PROBE (or an unknown kind)
        if (start === 0 || (link === undefined && !echoChecks(datagram, from.address, from.port, cid))) {
          // An address that has not shown it receives gets one COOKIE, no bigger than what it sent.
          if (link === undefined && datagram.length >= COOKIE_DATAGRAM && !dropped()) socket.send(cookie(from.address, from.port, cid, saysBatches(datagram)), from.port, from.address);
          return;
        }
        const batches = kind === Route.BATCH_FRAME || kind === Route.BATCH_ECHO;
        if (secret !== null) return receiveSigned(secret, link, key, from, datagram.subarray(start), batches);
        if (link === undefined) {
          const opened = open(key, from);
          if (opened === null) return;
          link = opened;
          link.attach(accept(link));
        }
        link.peerBatches = batches;
        link.receive(datagram, start);
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
