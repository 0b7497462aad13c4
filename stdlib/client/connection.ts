/**
 * A player's connection to a gate: the public face of the client (stdlib/client.ts says how it
 * is used). It owns the current Link (link.ts: one socket and the session on it), checks every
 * argument, holds pushes that arrive before anyone listens, and, with `reconnect`, makes a new
 * Link after a drop, with backoff.
 */
import type { ArgOf, ResultOf } from "../../runtime/service/typed.js";
import { ClientError, describe } from "./error.js";
import { type ConnectionEvents, type EventName, Listeners } from "./events.js";
import { Link, type User } from "./link.js";
import { backoffMs, checkMs, DEFAULT_TIMEOUT_MS, type Settings } from "./options.js";
import type { Reply } from "./pending.js";
import type { GateAddress } from "./transport.js";

export interface RequestOptions {
  /** Deadline of the answer; default 10 000 ms. */
  timeout?: number;
}

/** The typed view of a contract `C` (the interface luanet.RegRPCFunctions<C> implements):
 * `await room.Join({ player })` is `[result, err]`. */
export type Client<C> = {
  readonly [K in keyof C & string]: (...call: ArgOf<C[K]> extends null | undefined ? [args?: null, opts?: RequestOptions] : [args: ArgOf<C[K]>, opts?: RequestOptions]) => Promise<Reply<ResultOf<C[K]>>>;
};

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Close reasons after which reconnecting would not help: the client's own close(), a kick by
 * the game, credentials the gate refused, and a broken protocol on either side. */
const FINAL = new Set(["closed", "kicked", "auth_failed", "protocol"]);
/** AUTH error codes that say "not now" rather than "no": a reconnect attempt that gets one tries
 * again; any other ends reconnecting ("auth_failed"). */
const TRANSIENT = new Set(["timeout", "unavailable", "disconnected", "overloaded", "shutting_down", "draining", "rate_limited"]);

/** Pushes held for a "message" listener not yet added (connect() resolves, then the caller
 * adds one: a push sent right after the AUTH would otherwise be lost). Past these, dropped. */
const HELD_MESSAGES = 1024;
const HELD_BYTES = 4 * 1024 * 1024;

const ROUTE = /^.+\.[^.]+$/s;

function checkRoute(route: unknown, what: string): string {
  if (typeof route !== "string" || !ROUTE.test(route)) throw new TypeError(`${what}: route must be "Service.Function" (a service or group name, a dot, a function name without dots), got ${describe(route)}`);
  return route;
}

export class Connection {
  private link: Link;
  private current: ConnectionState = "connecting";
  private readonly listeners = new Listeners();
  private held: { route: string; msg: unknown }[] | null = [];
  private heldBytes = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private sessionId = "";
  private userNow: User | null = null;
  private auth: { readonly args: unknown } | undefined;

  /** @internal connect() makes connections. */
  constructor(private readonly address: GateAddress, private readonly settings: Settings) {
    this.auth = settings.auth;
    this.link = this.newLink();
  }

  /** @internal Resolves when the first session is up; rejects (and the connection is closed)
   * with the ClientError that prevented it. */
  async opened(): Promise<this> {
    try {
      await this.link.ready;
    } catch (error) {
      this.current = "closed";
      throw error;
    }
    this.up();
    return this;
  }

  /** The session's id (from HELLO); a reconnect brings a new one. */
  get session(): string {
    return this.sessionId;
  }

  /** The session's user (the AUTH's REPLY: uid and data), or null without a successful AUTH. */
  get user(): User | null {
    return this.userNow;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /**
   * Call `route` ("Service.Function"): `[result, null]` or `[null, err]`, never a throw for
   * anything the network or the gate does. err.code: the gate's (docs/protocol.md 13.4) or
   * `timeout` (no answer by opts.timeout), `disconnected` (not connected, or the connection
   * dropped before the answer), `overloaded` (maxPending requests await answers already, or
   * maxQueueBytes are unsent), `bad_value` (args cannot be encoded), `too_large` (over the
   * gate's maxRequestBytes). Throws TypeError for a bad route or option.
   */
  request<T = unknown>(route: string, args?: unknown, opts?: RequestOptions): Promise<Reply<T>> {
    checkRoute(route, "request(route, args, opts)");
    const timeoutMs = timeoutOf(opts, "request(route, args, opts)");
    if (this.current !== "open") return Promise.resolve([null, this.notOpen()]);
    return this.link.request(route, args, timeoutMs) as Promise<Reply<T>>;
  }

  /** A one-way MESSAGE to `route`: null once it is handed to the connection (the gate answers
   * nothing, errors included), or the ClientError saying why it was not sent (`disconnected`,
   * `overloaded`, `bad_value`, `too_large`). Throws TypeError for a bad route. */
  send(route: string, msg?: unknown): ClientError | null {
    checkRoute(route, "send(route, msg)");
    if (this.current !== "open") return this.notOpen();
    return this.link.send(route, msg);
  }

  /** AUTH with `args` on this session (connect()'s `auth` option does it while connecting): on
   * success `user` is set, and reconnects log in with these args. */
  async login(args: unknown, opts?: RequestOptions): Promise<Reply<User>> {
    const timeoutMs = timeoutOf(opts, "login(args, opts)");
    if (this.current !== "open") return [null, this.notOpen()];
    const link = this.link;
    const reply = await link.login(args, timeoutMs);
    if (reply[1] === null && link === this.link) {
      this.userNow = reply[0];
      this.auth = { args };
    }
    return reply;
  }

  /** The typed view of service (or group) `service`: `c.client<Room>("Room").Join(args)` is
   * `c.request("Room.Join", args)`. */
  client<C>(service: string): Client<C> {
    if (typeof service !== "string" || service === "") throw new TypeError(`client(service): service must be a non-empty string, got ${describe(service)}`);
    const methods = new Map<string, (args?: unknown, opts?: RequestOptions) => Promise<Reply>>();
    return new Proxy(Object.freeze({}), {
      get: (_, func) => {
        // Symbols (inspection, iteration) and `then` (a client is never taken for a promise)
        // are no function of the contract.
        if (typeof func !== "string" || func === "then") return undefined;
        let method = methods.get(func);
        if (method === undefined) {
          if (func === "" || func.includes(".")) throw new TypeError(`client(${JSON.stringify(service)}).${func}: a function name has no dot and is not empty`);
          methods.set(func, (method = (args?: unknown, opts?: RequestOptions) => this.request(`${service}.${func}`, args, opts)));
        }
        return method;
      },
    }) as Client<C>;
  }

  on<E extends EventName>(event: E, listener: ConnectionEvents[E]): this {
    this.listeners.add(event, listener, "on");
    if (event === "message" && this.held !== null) {
      const held = this.held;
      this.held = null;
      this.heldBytes = 0;
      // After on() returns, so that the caller's other listeners, added next, see them too.
      queueMicrotask(() => {
        for (const { route, msg } of held) this.listeners.emit("message", route, msg);
      });
    }
    return this;
  }

  off<E extends EventName>(event: E, listener: ConnectionEvents[E]): this {
    this.listeners.remove(event, listener, "off");
    return this;
  }

  /** Close for good: pending requests fail `disconnected`, then "close" with reason "closed". */
  close(): void {
    if (this.current === "closed") return;
    this.finish("closed", "closed by the client");
  }

  private notOpen(): ClientError {
    return new ClientError("disconnected", this.current === "reconnecting" ? "not connected to the gate (reconnecting)" : "the connection is closed");
  }

  private newLink(): Link {
    const { maxPending, maxFrameBytes, maxQueueBytes, timeoutMs } = this.settings;
    const link: Link = new Link({ address: this.address, auth: this.auth, timeoutMs, maxPending, maxFrameBytes, maxQueueBytes }, {
      push: (route, msg, bytes) => {
        if (link !== this.link) return;
        if (this.held === null) {
          this.listeners.emit("message", route, msg);
        } else if (this.held.length < HELD_MESSAGES && this.heldBytes + bytes <= HELD_BYTES) {
          this.held.push({ route, msg });
          this.heldBytes += bytes;
        }
      },
      down: (reason, message) => {
        if (link === this.link) this.dropped(reason, message);
      },
    });
    return link;
  }

  /** The current link's session is up. */
  private up(): void {
    this.current = "open";
    this.sessionId = this.link.hello!.session;
    this.userNow = this.link.user;
  }

  private dropped(reason: string, message: string): void {
    if (this.current === "closed") return;
    if (this.settings.reconnect === null || FINAL.has(reason) || this.settings.reconnect.retries === 0) {
      this.finish(reason, message);
      return;
    }
    this.current = "reconnecting";
    this.listeners.emit("disconnect", reason, message);
    this.retry(0, reason, message);
  }

  /** Reconnect attempt `n` after a wait; `reason`, `message`: why the last one failed. */
  private retry(n: number, reason: string, message: string): void {
    const r = this.settings.reconnect!;
    if (this.current !== "reconnecting") return;
    if (n >= r.retries) {
      this.finish(reason, `gave up reconnecting after ${n} attempt(s): ${message}`);
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.current !== "reconnecting") return;
      const link = (this.link = this.newLink());
      link.ready.then(() => {
        if (link !== this.link || this.current !== "reconnecting") return;
        this.up();
        this.listeners.emit("reconnect", this.sessionId);
      }, (error: ClientError) => {
        if (link !== this.link || this.current !== "reconnecting") return;
        if (link.authRefused && !TRANSIENT.has(error.code)) {
          this.finish("auth_failed", `the gate refused the AUTH on reconnecting (${error.code}): ${error.message}`);
          return;
        }
        // A KICK keeps its reason (gate_full, shutting_down...); not reaching the gate, or
        // losing it before the session was up, is "disconnected".
        const why = error.code === "timeout" || error.code === "unavailable" ? "disconnected" : error.code;
        if (FINAL.has(why)) this.finish(why, error.message);
        else this.retry(n + 1, why, error.message);
      });
    }, backoffMs(r, n));
  }

  private finish(reason: string, message: string): void {
    this.current = "closed";
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.link.close(reason, message);
    this.listeners.emit("close", reason, message);
  }
}

function timeoutOf(opts: unknown, what: string): number {
  if (opts === undefined || opts === null) return DEFAULT_TIMEOUT_MS;
  if (typeof opts !== "object" || Array.isArray(opts)) throw new TypeError(`${what}: opts must be an object such as { timeout: 5000 }, got ${describe(opts)}`);
  const { timeout, ...rest } = opts as { timeout?: unknown };
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new TypeError(`${what}: opts has no option ${extra.map((k) => JSON.stringify(k)).join(", ")} (it takes timeout)`);
  return timeout === undefined ? DEFAULT_TIMEOUT_MS : checkMs(timeout, `${what}: opts.timeout`);
}
