/**
 * Stream links: TCP (IPv4/IPv6) and UNIX domain stream sockets, with length-prefixed frames.
 * With TLS configured, TCP links run over TLS and both ends must present a certificate signed by
 * the cluster's CA. With a cluster secret, a link carries nothing until both ends have passed the
 * handshake in security/handshake.ts; a peer that fails it is closed and logged.
 * @internal
 */
import { existsSync, lstatSync, unlinkSync } from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { formatAddr, netaddr_ipv4, netaddr_ipv6, type NetAddr } from "../../stdlib/net.js";
import { warnEverySecond } from "../log.js";
import { AuthError, Handshake, HANDSHAKE_TIMEOUT_MS, type Role } from "../security/handshake.js";
import { refused } from "../security/refusals.js";
import { security } from "../security/settings.js";
import { FrameDecoder, FrameWriter, LinkLimitError } from "../wire/frame.js";
import { Admission, type Place } from "./admission.js";
import type { Link, LinkHandlers, Transport, TransportLimits } from "./types.js";

/** Closes for a limit are logged here, counted per second, rather than once per connection. */
const overLimit = warnEverySecond((n) => `closed ${n} connection(s) that went past a limit (luanet.Configure({ maxSendBytes, maxSendBytesTotal, partialFrameBytes }))`);

/** Reasons a link is not being read; it is read again when none is left. */
const ASKED = 1; // pause(): the mailbox is full
const REPLIES_QUEUED = 2; // an accepted link whose peer does not read what we send it

/**
 * Accepted links that have had more than sendHighWater queued: their peers may not be reading.
 * Together their queues may hold at most maxSendBytesTotal, or one peer spreading over
 * many connections (each under maxSendBytes) could still make us buffer without bound; past it
 * the largest is closed. A link leaves the set when it closes, or when a scan finds its queue
 * back under sendHighWater. Only sends on such links look at this: the hot path pays nothing.
 */
const backedUp = new Set<StreamLink>();

/** `limits`: those of the link whose send looks; its maxSendBytesTotal is the bound. */
function closeLargestBackedUp(limits: TransportLimits): void {
  let total = 0;
  let largest: StreamLink | null = null;
  for (const link of backedUp) {
    const queued = link.buffered;
    if (queued <= link.limits.sendHighWater) {
      backedUp.delete(link);
      continue;
    }
    total += queued;
    if (largest === null || queued > largest.buffered) largest = link;
  }
  if (total <= limits.maxSendBytesTotal || largest === null) return;
  overLimit();
  largest.close(new LinkLimitError(`${largest.buffered} bytes are queued to send and not read by the peer, and ${total} over all such connections (luanet.Configure({ maxSendBytesTotal: ${limits.maxSendBytesTotal} }))`));
}

class StreamLink implements Link {
  readonly reliable = true;
  private readonly writer: FrameWriter;
  private readonly decoder: FrameDecoder;
  private handlers: LinkHandlers | null = null;
  /** While the cluster handshake runs, frames go here instead of to the handlers. */
  private guard: ((body: Buffer) => void) | null = null;
  /** One promise however many senders wait, so waiting costs no listener per sender. */
  private draining: Promise<void> | null = null;
  private holds = 0;
  closed = false;
  private socketClosed = false;

  /**
   * `accepted`: the other side dialed; while our replies to it back up, it is not read. `limits`:
   * read live, but for `maxFrame`, given by the dialer or the listener (which read it when it
   * was created). `reads`: the socket reads into one reused buffer (its `onread`, set up by
   * `dial`) and hands each read here; otherwise its "data" events are read.
   */
  constructor(private readonly socket: net.Socket, readonly remote: string, readonly maxFrame: number,
    readonly limits: TransportLimits, private readonly accepted: boolean, reads: ReadSink | null = null) {
    socket.setNoDelay(true);
    this.writer = new FrameWriter((data) => {
      if (!this.closed) socket.write(data);
    });
    this.decoder = new FrameDecoder(maxFrame, () => limits.partialFrameBytes, reads !== null);
    if (reads !== null) reads.to = (chunk) => this.received(chunk);
    else socket.on("data", (chunk: Buffer) => this.received(chunk));
    socket.on("error", (error) => this.gone(error));
    socket.on("close", () => {
      this.socketClosed = true;
      this.gone();
    });
  }

  private received(chunk: Buffer): void {
    // Closed gracefully, the socket is read until the peer's end; nothing in it is for us (and a
    // partial frame held now would never be given back to the partialFrameBytes budget).
    if (this.closed) return;
    try {
      this.decoder.push(chunk, this.deliver);
    } catch (error) {
      if (error instanceof LinkLimitError) overLimit();
      this.close(error as Error);
    }
  }

  /** Each frame received; frames after a close (a reply that went past maxSendBytes closes the
   * link in the middle of a chunk) go nowhere. */
  private readonly deliver = (body: Buffer): void => {
    if (this.guard !== null) this.guard(body);
    else if (this.handlers !== null) this.handlers.onFrame(body);
  };

  /** performance.now() when the partial frame being received began to arrive; 0: none, or the
   * link is not being read. */
  get partialSince(): number {
    return this.holds === 0 ? this.decoder.partialSince : 0;
  }

  attach(handlers: LinkHandlers): void {
    this.handlers = handlers;
  }

  /**
   * Run the cluster handshake (when a secret is set), then call `ready`: synchronously, so frames
   * that came in the same chunk as the peer's proof reach the handlers `ready` attaches. If it
   * fails, the handlers attached so far get onClose with the AuthError.
   */
  authenticate(role: Role, ready: () => void): void {
    const secret = security().secret;
    if (secret === null) return ready();
    // Unref'd: if the link closes first, the timer's close() finds it closed and does nothing.
    const timer = setTimeout(() => this.close(new AuthError(`no cluster handshake within ${HANDSHAKE_TIMEOUT_MS} ms`)), HANDSHAKE_TIMEOUT_MS).unref();
    const handshake = new Handshake(secret, role, (body) => this.send(body));
    this.guard = (body) => {
      if (!handshake.receive(body)) return;
      clearTimeout(timer);
      this.guard = null;
      ready();
    };
  }

  /** Call `proven` once `frames` more frames have reached the handlers. */
  probation(frames: number, proven: () => void): void {
    let left = frames;
    this.guard = (body) => {
      this.handlers!.onFrame(body);
      if (--left > 0) return;
      this.guard = null;
      proven();
    };
  }

  /**
   * Queue a frame. Past `limits.maxSendBytes` queued (a frame always fits in an empty queue) the
   * link is closed instead: a peer that does not read cannot make us buffer without bound. An
   * accepted link above `sendHighWater` is not read until its queue drains, so a caller that does
   * not read its replies stops being read (TCP then pushes back on it).
   */
  send(body: Uint8Array): void {
    if (this.closed) return;
    const queued = this.writer.pending + this.socket.writableLength;
    const limits = this.limits;
    if (queued > 0 && queued + body.length > limits.maxSendBytes) {
      overLimit();
      return this.close(new LinkLimitError(`${queued} bytes are queued to send and not read by the peer (luanet.Configure({ maxSendBytes: ${limits.maxSendBytes} }))`));
    }
    this.writer.send(body);
    if (this.accepted && queued > limits.sendHighWater) {
      backedUp.add(this);
      if ((this.holds & REPLIES_QUEUED) === 0) {
        this.hold(REPLIES_QUEUED);
        void this.drained().then(() => this.release(REPLIES_QUEUED));
      }
      // Looked at each time this queue passes another sendHighWater: a few times per link.
      if (Math.floor((queued + body.length) / limits.sendHighWater) > Math.floor(queued / limits.sendHighWater)) closeLargestBackedUp(limits);
    }
  }

  get bytesIn(): number {
    return this.socket.bytesRead;
  }

  get bytesOut(): number {
    return this.socket.bytesWritten;
  }

  get buffered(): number {
    return this.writer.pending + this.socket.writableLength;
  }

  /** Write what is queued now rather than at the end of the turn. */
  flush(): void {
    if (!this.closed) this.writer.flush();
  }

  drained(): Promise<void> {
    this.writer.flush();
    if (this.closed || this.socket.writableLength === 0) return Promise.resolve();
    return (this.draining ??= new Promise((resolve) => {
      const done = () => {
        this.socket.off("drain", done).off("close", done);
        this.draining = null;
        resolve();
      };
      this.socket.on("drain", done).on("close", done);
    }));
  }

  finished(): Promise<void> {
    if (this.socketClosed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once("close", () => resolve()));
  }

  pause(): void {
    this.hold(ASKED);
  }

  resume(): void {
    this.release(ASKED);
  }

  /** Paused on request (not for replies queued: a peer that does not read them stays idle). */
  get paused(): boolean {
    return (this.holds & ASKED) !== 0;
  }

  private hold(reason: number): void {
    if (this.holds === 0) this.socket.pause();
    this.holds |= reason;
  }

  private release(reason: number): void {
    if (this.holds === 0) return;
    this.holds &= ~reason;
    if (this.holds !== 0 || this.closed) return;
    this.socket.resume();
    // A frame's time counts while it is read: not while we held it back.
    if (this.decoder.partialSince > 0) this.decoder.partialSince = performance.now();
  }

  close(error?: Error): void {
    if (this.closed) return;
    if (error === undefined) {
      this.writer.flush();
      this.socket.end();
    } else {
      // A failed handshake still sends our PROOF, queued in this tick: the peer then learns it
      // holds a different secret, rather than seeing us hang up.
      if (error instanceof AuthError) this.writer.flush();
      this.socket.destroy();
    }
    this.gone(error);
  }

  private gone(error?: Error): void {
    if (this.closed && this.handlers === null) return;
    this.closed = true;
    backedUp.delete(this);
    this.decoder.release();
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

/** TLS applies to TCP links only: a UNIX socket never leaves the machine. */
function tlsFor(addr: NetAddr) {
  const files = security().tls;
  return files === null || addr.family === "local" ? null : { cert: files.cert, key: files.key, ca: files.ca };
}

/**
 * Why a peer failed the TLS handshake. A certificate that does not verify shows only as "socket
 * hang up" in the error (Node closes the socket itself), so say so; otherwise OpenSSL's reason
 * ("wrong version number") rather than its multi-line message with source paths.
 */
function tlsReason(error: Error, socket: tls.TLSSocket): string {
  const unverified = socket.authorizationError as unknown as string | null | undefined;
  if (unverified) return `its certificate does not verify against the cluster CA (${unverified})`;
  return (error as { reason?: string }).reason ?? error.message;
}

/** Where a dialed socket's reads go, once its link exists. */
interface ReadSink {
  to: ((chunk: Buffer) => void) | null;
}

/** What one read of a dialed socket may take. */
const READ_BYTES = 64 * 1024;

/**
 * Dial: TCP or UNIX, then TLS if configured; `ready` names the event after which the socket can
 * carry data. A plain socket reads into one buffer of its own, reused (`onread`): no buffer and
 * no stream bookkeeping per read. (Node offers that to dialed sockets only, not to TLS ones nor
 * to those a server accepts.)
 */
function dial(addr: NetAddr): { socket: net.Socket; ready: string; reads: ReadSink | null } {
  const files = tlsFor(addr);
  if (files === null) {
    const reads: ReadSink = { to: null };
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    const callback = (n: number): boolean => {
      reads.to?.(buffer.subarray(0, n));
      return true; // false would stop reading: pause() does that, for its reasons
    };
    return { socket: net.connect({ ...socketOptions(addr), onread: { buffer, callback } }), ready: "connect", reads };
  }
  // Members are identified by the CA that signed them, not by host name: addresses are IPs.
  const socket = tls.connect({ ...(socketOptions(addr) as tls.ConnectionOptions), ...files, checkServerIdentity: () => undefined });
  return { socket, ready: "secureConnect", reads: null };
}

export const streamTransport: Transport = {
  connect(addr, open, { limits, timeoutMs, greeting }) {
    return new Promise((resolve, reject) => {
      const { socket, ready, reads } = dial(addr);
      socket.unref(); // a dialed link holds no process open: see Transport.connect
      const fail = (error: Error) => reject(error);
      socket.once("error", fail);
      // Unanswered SYNs are retried by the kernel for about two minutes, ever more slowly; give up
      // sooner, so the next attempt looks the name up again and, if the host is back, finds it.
      socket.setTimeout(timeoutMs, () => socket.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "ETIMEDOUT" })));
      socket.once(ready, () => {
        socket.setTimeout(0);
        socket.off("error", fail);
        const link = new StreamLink(socket, formatAddr(addr), limits.maxFrameBytes, limits, false, reads);
        link.attach({
          onFrame: () => {},
          onClose: (error) => reject(error instanceof AuthError ? new AuthError(`it failed the cluster handshake: ${error.message}`)
            : new Error(`the connection closed during the cluster handshake${error ? `: ${error.message}` : " (has it the same cluster secret?)"}`)),
        });
        link.authenticate("dial", () => {
          link.attach(open(link));
          if (greeting.length > 0) link.send(greeting); // first, ahead of anything the caller sends
          resolve(link);
        });
      });
    });
  },

  async listen(addr, accept, limits) {
    const { maxFrameBytes: maxFrame, maxConnections } = limits; // read now, as the listener opens
    if (addr.family === "local") await clearStaleSocket(addr.path);
    return new Promise((resolve, reject) => {
      const sockets = new Set<net.Socket>();
      /** The link on each accepted socket, once it has one (on TLS, keyed by the TCP socket under it). */
      const links = new WeakMap<net.Socket, StreamLink>();
      const remoteOf = (socket: net.Socket) => (socket.remoteAddress === undefined ? "unix" : `${socket.remoteAddress}:${socket.remotePort}`);
      // A TLS socket whose handshake failed has lost its address: take the one its TCP socket
      // (Node's `_parent`) had on arrival.
      const tcpRemotes = new WeakMap<net.Socket, string>();
      const arrivedFrom = (socket: tls.TLSSocket) => {
        const tcp = (socket as unknown as { _parent?: net.Socket })._parent;
        return (tcp ? tcpRemotes.get(tcp) : undefined) ?? remoteOf(socket);
      };
      let where = formatAddr(addr); // the bound address, once listening
      const admission = new Admission(() => ({ max: maxConnections, perSource: limits.maxConnectionsPerSource }), warnEverySecond((n) =>
        `closed ${n} connection(s) on ${where} that had not yet sent a request, to make room for new ones (luanet.Configure({ maxConnections, maxConnectionsPerSource }))`));
      const places = new WeakMap<net.Socket, Place>();
      const onSocket = (socket: net.Socket) => {
        const remote = remoteOf(socket);
        // On TLS, the place belongs to the TCP socket under it (Node's `_parent`).
        const place = places.get(socket) ?? places.get((socket as unknown as { _parent: net.Socket })._parent);
        if (place === undefined || place.gone) return void socket.destroy(); // refused or displaced already
        const link = new StreamLink(socket, remote, maxFrame, limits, true);
        links.set((socket as unknown as { _parent?: net.Socket })._parent ?? socket, link);
        link.attach({ onFrame: () => {}, onClose: (error) => refused(remote, error?.message ?? "it closed the connection during the cluster handshake") });
        link.authenticate("accept", () => {
          link.attach(accept(link));
          // Its greeting and one more frame: it is a peer that talks, not one holding a place.
          link.probation(2, () => admission.prove(place));
        });
      };
      const files = tlsFor(addr);
      const server = files === null ? net.createServer(onSocket)
        : tls.createServer({ ...files, requestCert: true, rejectUnauthorized: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, onSocket)
          .on("tlsClientError", (error, socket) => refused(arrivedFrom(socket), `TLS handshake failed: ${tlsReason(error, socket)}`));
      const refusedOne = warnEverySecond((n) => `refused ${n} connection(s) on ${where}: already at the maximum of ${maxConnections} ` +
        `(or ${limits.maxConnectionsPerSource} from one address), every one in use (luanet.Configure({ maxConnections, maxConnectionsPerSource }))`);
      // "connection" comes before the TLS handshake, and before the handler that createServer got.
      server.prependListener("connection", (socket: net.Socket) => {
        const remote = remoteOf(socket);
        const place = admission.admit(() => socket.destroy(), socket.remoteAddress ?? "unix");
        if (place === null) {
          refusedOne();
          socket.destroy();
          return;
        }
        places.set(socket, place);
        tcpRemotes.set(socket, remote);
        sockets.add(socket);
        socket.on("close", () => {
          admission.leave(place);
          sockets.delete(socket);
        });
      });
      server.once("error", reject);
      server.listen(addr.family === "local" ? { path: addr.path } : { host: addr.ip, port: addr.port }, () => {
        server.off("error", reject);
        const bound = server.address();
        const actual: NetAddr = typeof bound === "object" && bound !== null
          ? (addr.family === "inet6" ? netaddr_ipv6(bound.address, bound.port) : netaddr_ipv4(bound.address, bound.port))
          : addr;
        where = formatAddr(actual);
        resolve({
          addr: actual,
          close: () => new Promise<void>((done) => {
            server.close(() => done()); // also removes a UNIX socket's file
            // What a link has queued this turn (a shutting_down answer, say) is written first.
            for (const socket of sockets) {
              links.get(socket)?.flush();
              socket.destroy();
            }
          }),
        });
      });
    });
  },
};
