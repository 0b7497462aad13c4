/**
 * One connection to a gate, and the session on it: connecting, HELLO, the AUTH when there are
 * auth args and the gate asks for it, then requests, messages and pushes until it ends, once,
 * for one reason. Everything of the session (its id, its user, its pending requests, its
 * heartbeat) lives and dies here; the Connection (connection.ts) makes a new Link to reconnect.
 */
import { ClientError } from "./error.js";
import { Frame, FrameCodec, FrameError, type GateFrame, type Hello, UnsendableError } from "./frames.js";
import { Heartbeat } from "./heartbeat.js";
import { PendingRequests, type Reply, MAX_TIMER_MS } from "./pending.js";
import { type GateAddress, openTransport, type Transport, type TransportEnd } from "./transport.js";

/** The session's user: the AUTH's REPLY, its `uid` and the rest of it as `data`. */
export interface User {
  readonly uid: string | number | bigint;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface LinkOptions {
  readonly address: GateAddress;
  /** The AUTH's args (sent when the gate's HELLO asks for AUTH), or undefined: no AUTH. */
  readonly auth: { readonly args: unknown } | undefined;
  /** Deadline of connecting, HELLO and the AUTH's answer together. */
  readonly timeoutMs: number;
  readonly maxPending: number;
  readonly maxFrameBytes: number;
  readonly maxQueueBytes: number;
}

export interface LinkEvents {
  /** A PUSH frame; `bytes`: its body's size. */
  push(route: string, msg: unknown, bytes: number): void;
  /** The link ended after it was ready (a KICK reason, "disconnected", "heartbeat_timeout",
   * "protocol", or the reason given to close()). Pending requests have failed already. */
  down(reason: string, message: string): void;
}

/** PING, encoded once. */
const PING = new Uint8Array([0x81, Frame.PING]);

export class Link {
  /** Resolves once the session is usable (HELLO, and the AUTH's REPLY if one was sent); rejects
   * with a ClientError: the KICK's reason as its code, "timeout", "unavailable" (no connection,
   * or one closed before HELLO), "disconnected", "protocol", or the AUTH's ERROR. */
  readonly ready: Promise<void>;
  hello: Hello | null = null;
  user: User | null = null;
  /** ready rejected because the gate answered the AUTH with an ERROR. */
  authRefused = false;

  private readonly transport: Transport;
  private readonly codec = new FrameCodec();
  private readonly pending: PendingRequests;
  private heartbeat: Heartbeat | null = null;
  private deadline: ReturnType<typeof setTimeout> | null;
  private isReady = false;
  private closed = false;
  private resolveReady!: () => void;
  private rejectReady!: (error: ClientError) => void;

  constructor(private readonly options: LinkOptions, private readonly events: LinkEvents) {
    this.pending = new PendingRequests(options.maxPending);
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.deadline = setTimeout(() => this.end("timeout", `no session within ${options.timeoutMs} ms`, false), Math.min(options.timeoutMs, MAX_TIMER_MS));
    this.transport = openTransport(options.address, {
      open: () => {},
      frame: (body) => {
        this.onFrame(body);
        return !this.closed;
      },
      end: (how: TransportEnd, message) => this.end(how, message, false),
    }, { maxFrameBytes: options.maxFrameBytes });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A REQUEST; never throws (route and timeout are checked by the caller). */
  request(route: string, args: unknown, timeoutMs: number): Promise<Reply> {
    return this.call(timeoutMs, route, (id) => [Frame.REQUEST, id, route, args ?? null]);
  }

  /** An AUTH; on its REPLY the session's user is set. */
  async login(args: unknown, timeoutMs: number): Promise<Reply<User>> {
    const [result, err] = await this.call(timeoutMs, "AUTH", (id) => [Frame.AUTH, id, args ?? null]);
    if (err !== null) return [null, err];
    const user = userOf(result);
    if (user === null) {
      this.end("protocol", "the AUTH's REPLY is not a map with a uid (text or integer)", false);
      return [null, new ClientError("protocol", "the gate answered the AUTH with something other than a map with a uid")];
    }
    this.user = user;
    return [user, null];
  }

  /** A MESSAGE: null once handed to the connection, or why it was not. */
  send(route: string, msg: unknown): ClientError | null {
    const refused = this.refusal();
    if (refused !== null) return refused;
    const body = this.encode([Frame.MESSAGE, route, msg ?? null], route);
    if (body instanceof ClientError) return body;
    this.write(body);
    return null;
  }

  /** End the link for `reason` (a close reason: "closed" for the client's own close()). */
  close(reason: string, message: string, graceful = true): void {
    this.end(reason, message, graceful);
  }

  private async call(timeoutMs: number, what: string, frame: (id: number) => unknown[]): Promise<Reply> {
    const refused = this.refusal() ?? (this.pending.full ? new ClientError("overloaded", `${what}: ${this.options.maxPending} requests await answers already (maxPending)`) : null);
    if (refused !== null) return [null, refused];
    const { id, reply } = this.pending.add(timeoutMs, what);
    const body = this.encode(frame(id), what);
    if (body instanceof ClientError) {
      this.pending.settle(id, [null, body]);
    } else {
      this.write(body);
    }
    return reply;
  }

  /** Why nothing can be sent now, or null. */
  private refusal(): ClientError | null {
    if (this.closed || this.hello === null) return new ClientError("disconnected", "not connected to the gate");
    const buffered = this.transport.buffered();
    if (buffered > this.options.maxQueueBytes) return new ClientError("overloaded", `${buffered} bytes wait to be sent to the gate already, over maxQueueBytes (${this.options.maxQueueBytes})`);
    return null;
  }

  private encode(frame: unknown[], what: string): Uint8Array | ClientError {
    try {
      return this.codec.encode(frame, this.hello!.maxRequestBytes);
    } catch (error) {
      if (!(error instanceof UnsendableError)) throw error;
      return error.tooLarge ? new ClientError("too_large", `${what}: ${error.message}`) : new ClientError("bad_value", `${what}: ${error.message}`);
    }
  }

  private write(body: Uint8Array): void {
    this.transport.send(body);
    this.heartbeat?.sent();
  }

  private onFrame(body: Uint8Array): void {
    if (this.closed) return;
    this.heartbeat?.received();
    let frame: GateFrame;
    try {
      frame = this.codec.decode(body);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.end("protocol", `from the gate: ${error.message}`, false);
      return;
    }
    if (frame.type === Frame.KICK) {
      this.end(frame.reason, frame.message, false, true);
      return;
    }
    if (this.hello === null) {
      if (frame.type === Frame.HELLO) this.onHello(frame);
      else this.end("protocol", `from the gate: a frame of type ${frame.type} before HELLO`, false);
      return;
    }
    switch (frame.type) {
      case Frame.HELLO:
        this.end("protocol", "from the gate: a second HELLO", false);
        return;
      case Frame.REPLY:
        this.pending.settle(frame.id, [frame.result, null]);
        return;
      case Frame.ERROR:
        this.pending.settle(frame.id, [null, new ClientError(frame.code, frame.message)]);
        return;
      case Frame.PUSH:
        this.events.push(frame.route, frame.msg, body.length);
        return;
      case Frame.PONG:
        return;
    }
  }

  private onHello(hello: Hello): void {
    this.hello = hello;
    if (hello.heartbeatMs > 0) {
      this.heartbeat = new Heartbeat(hello.heartbeatMs, () => this.write(PING), () => this.end("heartbeat_timeout", `nothing from the gate for ${3 * hello.heartbeatMs} ms (3 x heartbeatMs)`, false));
    }
    const auth = this.options.auth;
    if (!hello.auth || auth === undefined) {
      this.becomeReady();
      return;
    }
    this.login(auth.args, this.options.timeoutMs).then(([, err]) => {
      if (this.closed) return;
      if (err === null) {
        this.becomeReady();
        return;
      }
      this.authRefused = true;
      this.rejectReady(err);
      this.end("closed", `the AUTH failed: ${err.message}`, true);
    });
  }

  private becomeReady(): void {
    this.isReady = true;
    this.clearDeadline();
    this.resolveReady();
  }

  private clearDeadline(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    this.deadline = null;
  }

  private end(reason: string, message: string, graceful: boolean, kicked = false): void {
    if (this.closed) return;
    this.closed = true;
    this.clearDeadline();
    this.heartbeat?.stop();
    this.transport.close(graceful);
    this.pending.failAll(new ClientError("disconnected", `the connection to the gate ended (${reason}): ${message}`));
    if (this.isReady) this.events.down(reason, message);
    else this.rejectReady(new ClientError(kicked ? reason : this.rejectionCode(reason), kicked ? `kicked by the gate (${reason}): ${message}` : message));
  }

  /** What connect() rejects with for a link that ended before it was ready. */
  private rejectionCode(reason: string): string {
    switch (reason) {
      case "timeout":
      case "heartbeat_timeout":
        return "timeout";
      case "protocol":
      case "unavailable":
        return reason;
      case "disconnected":
        return this.hello === null ? "unavailable" : "disconnected";
      default:
        return "disconnected";
    }
  }
}

/** The user an AUTH's REPLY names, or null if it is not a map with a uid. */
function userOf(result: unknown): User | null {
  if (typeof result !== "object" || result === null || Array.isArray(result) || result instanceof Uint8Array || result instanceof Map || result instanceof Set || result instanceof Date) return null;
  const { uid, ...data } = result as Record<string, unknown>;
  if (!(typeof uid === "string" || typeof uid === "bigint" || (typeof uid === "number" && Number.isInteger(uid)))) return null;
  return Object.freeze({ uid, data: Object.freeze(data) });
}
