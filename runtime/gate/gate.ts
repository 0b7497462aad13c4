/**
 * A gate: the part of a service that players connect to (luanet.StartGate). It owns the client
 * listeners (WebSocket, TCP), every session on them, and its channels' members here. A client's
 * request becomes an RPC to `luanet.client` of the service (or group) its route names
 * (client-call.ts), made in a task of the gate's service, so deadlines, balancing and failover are
 * a call's; the answer goes back to that client only. Services reach the gate through the
 * reserved functions `luanet.gate.*` (docs/protocol.md 13.7).
 *
 * Bounded and fair: admission caps connections per gate and per address, and a newcomer takes
 * the place of the oldest session not yet authenticated before it is refused
 * (transport/admission.ts); each session has a rate allowance, a cap on requests in flight and
 * a byte bound on what is queued to it (a client that does not read is kicked `too_slow`, never
 * buffered without limit); silence for 3 heartbeats, or no AUTH in time, ends a session. One
 * client's frames only ever touch its own session.
 * @internal
 */
import { randomBytes } from "node:crypto";
import { formatAddr } from "../../stdlib/net.js";
import { describe, LuanetError, type RPCError } from "../errors.js";
import { badName } from "../names.js";
import { Block } from "../scheduler/block.js";
import type { Instruction } from "../scheduler/instruction.js";
import { Admission } from "../transport/admission.js";
import { GetGroupMembers, JoinGroup, RPCCall, type CallOptions } from "../service/api.js";
import type { Handler } from "../service/dispatch.js";
import type { Service } from "../service/service.js";
import { CLIENT_FUNCTION } from "./client-call.js";
import { listenTcp, listenWs, type ClientLink, type ClientListener } from "./client-link.js";
import { ClientProtocolError, ClientType, CLIENT_PROTOCOL_VERSION, decodeClient, encodeClient, PONG_FRAME } from "./frames.js";
import { splitRoute, type GateSettings, type IpAddr } from "./options.js";
import { GateSession } from "./session.js";
import { EVENT_FUNCTION, GATE_FUNCTIONS, GATES_GROUP, WATCHERS_GROUP } from "./names.js";
import type { SessionEvents } from "./watch.js";


/** AUTHs a session may fail before it is kicked `auth_failed`. */
const AUTH_ATTEMPTS = 3;
/** Channels one session may be in. */
const MAX_CHANNELS_PER_SESSION = 256;
/** Without StartGate({ services }): how many distinct names clients may route to, and how
 * often a new one may be tried (each costs a registry look-up and an entry in the peer table,
 * so a client sending random routes must not grow them without bound). */
const MAX_TARGETS = 1024;
const NEW_TARGETS_PER_SECOND = 5;
/** The most bytes (CBOR) a session's data may take: it travels with every call. */
export const MAX_SESSION_DATA = 16_384;
/** Session starts and ends are told to the watchers at most this often (ms), or when this many wait. */
const EVENTS_MS = 50;
const EVENTS_BATCH = 1000;

export interface GateAddresses {
  ws: IpAddr | null;
  tcp: IpAddr | null;
}

export class Gate {
  readonly sessions = new Map<string, GateSession>();
  /** Channel name → its members on this gate. */
  private readonly channels = new Map<string, Set<GateSession>>();
  private readonly admission: Admission;
  /** New each time a gate starts: session ids never recur across restarts. */
  private readonly epoch = randomBytes(6).toString("base64url").replace(/[-_]/g, "x");
  private next = 0;
  private listeners: ClientListener[] = [];
  private sweeping: NodeJS.Timeout | null = null;
  private events: SessionEvents;
  private eventsTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The names clients have routed to (without settings.services), and the allowance for new ones. */
  private readonly targets = new Set<string>();
  private targetTokens = NEW_TARGETS_PER_SECOND;
  private targetsRefilled = performance.now();
  /** Kicks logged since the last log line about them (so a flood is one line a second). */
  private refusedQuietly = 0;

  constructor(readonly service: Service, readonly settings: GateSettings) {
    this.admission = new Admission(() => ({ max: settings.maxClients, perSource: settings.maxClientsPerAddress }), () => {});
    this.events = { gate: service.name, started: [], ended: [] };
  }

  get name(): string {
    return this.service.name;
  }

  /** Listen, offer the gate functions, and join `luanet.gates` once the service registers. */
  async start(): Promise<GateAddresses> {
    const s = this.settings;
    const handler = { open: (link: ClientLink) => this.open(link) };
    const out: GateAddresses = { ws: null, tcp: null };
    try {
      if (s.ws !== null) {
        const l = await listenWs(s.ws.ip, s.ws.port, s.maxRequestBytes, s.maxClients, s.deflate, handler);
        this.listeners.push(l);
        out.ws = { ...s.ws, port: l.port };
      }
      if (s.tcp !== null) {
        const l = await listenTcp(s.tcp.ip, s.tcp.port, s.maxRequestBytes, s.maxClients, handler);
        this.listeners.push(l);
        out.tcp = { ...s.tcp, port: l.port };
      }
    } catch (error) {
      await this.closeListeners();
      const e = error as NodeJS.ErrnoException;
      const where = [s.ws && `ws ${formatAddr(s.ws)}`, s.tcp && `tcp ${formatAddr(s.tcp)}`].filter(Boolean).join(", ");
      throw new LuanetError(e.code === "EADDRINUSE" ? "address_in_use" : "listen_failed", `the gate of ${this.name} cannot listen on ${where}: ${e.message}`);
    }
    for (const [name, fn] of this.functions()) this.service.reserved.set(name, fn);
    const gate = this;
    // Its life is a task of the service: the service's stop halts it, and that ends every session.
    this.service.spawn(`gate ${this.name}`, function* () {
      try {
        for (;;) yield* Block();
      } finally {
        void gate.stop("shutting_down", `${gate.name} is shutting down`);
      }
    });
    this.service.whenRegistering(() => void JoinGroup(this.service, GATES_GROUP));
    const every = Math.min(1000, Math.max(50, this.settings.heartbeatMs / 2));
    this.sweeping = setInterval(() => this.sweep(), every);
    this.sweeping.unref();
    const where = [out.ws && `ws://${formatAddr(out.ws)}`, out.tcp && `tcp://${formatAddr(out.tcp)}`].filter(Boolean).join(" and ");
    this.service.log.info(`gate ${this.name} listening for clients on ${where}`);
    return out;
  }

  /** A new connection: admitted (HELLO) or kicked `gate_full` / `address_full`. */
  private open(link: ClientLink) {
    const s = this.settings;
    let session: GateSession | null = null;
    const place = this.admission.admit(() => session !== null && this.kick(session, "displaced", "the gate is full and this session had not authenticated"), link.source);
    if (place === null) {
      const perAddress = this.admission.held(link.source) >= s.maxClientsPerAddress;
      const reason = perAddress ? "address_full" : "gate_full";
      const message = perAddress
        ? `the gate holds ${s.maxClientsPerAddress} connections from ${link.source} already (StartGate({ maxClientsPerAddress }))`
        : `the gate holds its maximum of ${s.maxClients} connections (StartGate({ maxClients }))`;
      this.refused(reason, message);
      link.send(encodeClient([ClientType.KICK, reason, message]));
      link.close();
      return { frame() {}, refused() {}, closed() {} };
    }
    const id = `${this.epoch}.${++this.next}@${this.name}`;
    session = new GateSession(id, this.name, link, place, s.auth !== null, s.rateLimit);
    this.sessions.set(id, session);
    if (s.auth === null) this.announce(session);
    link.send(encodeClient([ClientType.HELLO, CLIENT_PROTOCOL_VERSION, id, s.heartbeatMs, s.auth !== null, s.maxRequestBytes]));
    const me = session;
    return {
      frame: (body: Uint8Array) => this.frame(me, body),
      refused: (reason: "too_large" | "protocol", message: string) => this.kick(me, reason, message),
      closed: () => this.end(me, "closed"),
    };
  }

  private frame(s: GateSession, body: Uint8Array): void {
    if (s.ended) return;
    s.lastSeen = performance.now();
    let f;
    try {
      f = decodeClient(body);
    } catch (error) {
      return this.kick(s, "protocol", (error as ClientProtocolError).message);
    }
    switch (f[0]) {
      case ClientType.PING: return this.send(s, PONG_FRAME);
      case ClientType.AUTH: return this.auth(s, f[1], f[2]);
      case ClientType.REQUEST: return this.request(s, f[1], f[2], f[3]);
      case ClientType.MESSAGE: return this.request(s, null, f[1], f[2]);
    }
  }

  /** Whether a request (id) or message (null) may go on; answers the request if not. */
  private admits(s: GateSession, id: number | null): boolean {
    if (id !== null && s.pending.has(id)) return this.error(s, id, "bad_request", `request id ${id} is already waiting for its answer`), false;
    if (!s.allow(s.lastSeen)) return id !== null && this.error(s, id, "rate_limited", `more than ${this.settings.rateLimit} requests a second (StartGate({ rateLimit }))`), false;
    if (s.pending.size + s.messages >= this.settings.maxPending) return id !== null && this.error(s, id, "overloaded", `${s.pending.size + s.messages} requests and messages are waiting for answers already (StartGate({ maxPending }))`), false;
    return true;
  }

  private auth(s: GateSession, id: number, args: unknown): void {
    const auth = this.settings.auth;
    if (auth === null) return this.error(s, id, "bad_request", "this gate takes no AUTH: send requests");
    if (s.authed) return this.error(s, id, "bad_request", "this session is authenticated already");
    if (s.authPending) return this.error(s, id, "bad_request", "an AUTH of this session is waiting for its answer already");
    if (!this.admits(s, id)) return;
    s.authPending = true;
    s.pending.add(id);
    const gate = this;
    this.spawn(`auth ${s.id}`, function* () {
      const [result, err] = yield* RPCCall(gate.service, auth.service, auth.func, args, { key: s.id, ...gate.deadline(auth.service) });
      gate.authAnswered(s, id, result, err);
    });
  }

  private authAnswered(s: GateSession, id: number, result: unknown, err: RPCError | null): void {
    const auth = this.settings.auth!;
    s.authPending = false;
    s.pending.delete(id);
    if (s.ended) return;
    const uid = typeof result === "object" && result !== null ? (result as Record<string, unknown>).uid : undefined;
    if (err === null && (typeof uid === "string" || (typeof uid === "number" && Number.isFinite(uid)))) {
      const { uid: _, ...data } = result as Record<string, unknown>;
      if (encodeClient([data]).length > MAX_SESSION_DATA) return this.error(s, id, "auth_failed", `${auth.service}.${auth.func} answered more than ${MAX_SESSION_DATA} bytes of session data`);
      s.bind(uid, data);
      this.admission.prove(s.place);
      this.reply(s, id, result);
      return this.announce(s);
    }
    if (++s.authAttempts >= AUTH_ATTEMPTS) return this.kick(s, "auth_failed", `${AUTH_ATTEMPTS} AUTHs failed`);
    if (err !== null) return this.error(s, id, err.code === "remote_error" ? "auth_failed" : err.code, err.message);
    this.error(s, id, "auth_failed", `${auth.service}.${auth.func} answered without a uid (text or number): ${describe(result)}`);
  }

  /** A REQUEST (id) or MESSAGE (id null) for `route`. */
  private request(s: GateSession, id: number | null, route: string, args: unknown): void {
    if (!s.authed) return void (id !== null && this.error(s, id, "not_authenticated", "send AUTH first: this gate routes nothing before it"));
    if (!this.admits(s, id)) return;
    if (this.settings.auth === null) this.admission.prove(s.place);
    const target = splitRoute(route);
    if (target === null) return void (id !== null && this.error(s, id, "bad_request", `a route is "Service.Func", got ${describe(route)}`));
    const refused = this.refusesTarget(target.service);
    if (refused !== null) return void (id !== null && this.error(s, id, "unavailable", refused));
    const opts = this.routeOptions(target.service, s);
    if (id !== null) s.pending.add(id);
    else s.messages++;
    const gate = this;
    this.spawn(`client ${route}`, function* () {
      const [result, err] = yield* RPCCall(gate.service, target.service, CLIENT_FUNCTION, { f: target.func, a: args, s: s.public }, opts);
      if (id === null) return void s.messages--;
      s.pending.delete(id);
      if (err === null) gate.reply(s, id, result);
      else gate.error(s, id, err.code, err.message);
    });
  }

  /** Why requests for `service` are not routed, or null. */
  private refusesTarget(service: string): string | null {
    const allowed = this.settings.services;
    if (allowed !== null) return allowed.has(service) ? null : `this gate routes to ${[...allowed].join(", ")} only, not to ${service}`;
    if (this.targets.has(service)) return null;
    if (this.targets.size >= MAX_TARGETS) return `this gate has routed to ${MAX_TARGETS} services already, and no more (StartGate({ services }) names them)`;
    const now = performance.now();
    this.targetTokens = Math.min(NEW_TARGETS_PER_SECOND, this.targetTokens + ((now - this.targetsRefilled) * NEW_TARGETS_PER_SECOND) / 1000);
    this.targetsRefilled = now;
    if (this.targetTokens < 1) return `this gate tries at most ${NEW_TARGETS_PER_SECOND} new service names a second; try again (StartGate({ services }) names them)`;
    this.targetTokens--;
    this.targets.add(service);
    return null;
  }

  /** A task of the gate's service; a gate that has stopped starts none. */
  private spawn(name: string, body: () => Generator<Instruction, void, unknown>): void {
    if (!this.stopped) this.service.spawn(name, body);
  }

  private routeOptions(service: string, s: GateSession): CallOptions {
    const r = this.settings.routes.get(service);
    const opts: CallOptions = this.deadline(service);
    const key = r?.key ?? "uid";
    if (key === "uid") opts.key = String(s.uid ?? s.id);
    else if (key === "session") opts.key = s.id;
    if (r?.balance !== undefined) opts.balance = r.balance;
    return opts;
  }

  private deadline(service: string): CallOptions {
    const ms = this.settings.routes.get(service)?.timeout ?? this.settings.timeout;
    return ms === null ? {} : { timeout: ms };
  }

  private reply(s: GateSession, id: number, result: unknown): void {
    let body: Uint8Array;
    try {
      body = encodeClient([ClientType.REPLY, id, result]);
    } catch (error) {
      return this.error(s, id, "bad_value", (error as Error).message);
    }
    this.send(s, body);
  }

  private error(s: GateSession, id: number, code: string, message: string): void {
    this.send(s, encodeClient([ClientType.ERROR, id, code, message]));
  }

  /** Queue `body` to the client; a client whose queue passes maxQueueBytes is kicked `too_slow`. */
  private send(s: GateSession, body: Uint8Array): void {
    if (s.ended) return;
    s.link.send(body);
    if (s.link.queued > this.settings.maxQueueBytes) {
      this.kick(s, "too_slow", `${s.link.queued} bytes are queued to this client, over the gate's maxQueueBytes (${this.settings.maxQueueBytes}): it does not read`);
    }
  }

  /** End `s` with a KICK telling why, then close its connection. */
  kick(s: GateSession, reason: string, message: string): void {
    if (s.ended) return;
    if (reason === "too_slow" || reason === "too_large" || reason === "protocol") this.refused(reason, `${s.id} from ${s.link.source}: ${message}`);
    s.link.send(encodeClient([ClientType.KICK, reason, message]));
    s.link.close();
    this.end(s, reason);
  }

  private refused(reason: string, message: string): void {
    if (this.refusedQuietly++ === 0) {
      this.service.log.warn(`gate ${this.name}: ${reason}: ${message}`);
      setTimeout(() => {
        if (this.refusedQuietly > 1) this.service.log.warn(`gate ${this.name}: ${this.refusedQuietly - 1} more clients refused or kicked in the last second`);
        this.refusedQuietly = 0;
      }, 1000).unref();
    }
  }

  /** `s` is over: forget it, take it out of its channels, tell the watchers. */
  private end(s: GateSession, reason: string): void {
    if (s.ended) return;
    s.ended = true;
    this.sessions.delete(s.id);
    this.admission.leave(s.place);
    for (const name of s.channels) {
      const members = this.channels.get(name);
      members?.delete(s);
      if (members?.size === 0) this.channels.delete(name);
    }
    if (s.announced) this.queueEvent("ended", { id: s.id, uid: s.uid, reason });
  }

  private announce(s: GateSession): void {
    s.announced = true;
    this.queueEvent("started", { id: s.id, uid: s.uid });
  }

  private queueEvent(kind: "started", event: SessionEvents["started"][number]): void;
  private queueEvent(kind: "ended", event: SessionEvents["ended"][number]): void;
  private queueEvent(kind: "started" | "ended", event: never): void {
    (this.events[kind] as unknown[]).push(event);
    if (this.events.started.length + this.events.ended.length >= EVENTS_BATCH) this.flushEvents();
    else this.eventsTimer ??= setTimeout(() => this.flushEvents(), EVENTS_MS);
  }

  /** Tell every session watcher (the group luanet.session-watchers) what started and ended;
   * resolves once each has answered (or failed to). */
  private flushEvents(): Promise<void> {
    if (this.eventsTimer !== null) clearTimeout(this.eventsTimer);
    this.eventsTimer = null;
    const batch = this.events;
    if (batch.started.length + batch.ended.length === 0) return Promise.resolve();
    this.events = { gate: this.name, started: [], ended: [] };
    if (this.service.registered() === null) return Promise.resolve(); // not registered: nobody can be watching
    const service = this.service;
    return new Promise<void>((resolve) => service.spawn(`gate ${this.name} session events`, function* () {
      try {
        const [watchers] = yield* GetGroupMembers(service, WATCHERS_GROUP);
        const tasks = (watchers ?? []).map((name) => service.spawn(`session events to ${name}`, function* () {
          const [, err] = yield* RPCCall(service, name, EVENT_FUNCTION, batch);
          if (err !== null) service.log.debug(`session events to ${name}: ${err.code} ${err.message}`);
        }));
        for (const task of tasks) yield* task;
      } finally {
        resolve();
      }
    }));
  }

  /** Every second or so: end the sessions silent for 3 heartbeats, or unauthenticated too long. */
  private sweep(): void {
    if (this.service.stopping) return void this.stop("shutting_down", `${this.name} is shutting down`);
    const now = performance.now();
    const silent = 3 * this.settings.heartbeatMs;
    for (const s of this.sessions.values()) {
      if (now - s.lastSeen > silent) this.kick(s, "heartbeat_timeout", `nothing arrived for ${Math.round(now - s.lastSeen)} ms (heartbeat ${this.settings.heartbeatMs} ms)`);
      else if (!s.authed && now - s.opened > this.settings.authTimeoutMs) this.kick(s, "auth_timeout", `no AUTH within ${this.settings.authTimeoutMs} ms`);
    }
  }

  /** The gate's service stops: kick every session, tell the watchers, close the listeners. */
  stop(reason: string, message: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.stopped = true;
    if (this.sweeping !== null) clearInterval(this.sweeping);
    for (const s of [...this.sessions.values()]) this.kick(s, reason, message);
    void this.closeListeners();
    return this.flushEvents();
  }

  /** The gate's service drains: the same, before it leaves the registry, and the watchers told
   * (at most the service's rpcTimeout). */
  drain(): Promise<void> {
    return this.stop("shutting_down", `${this.name} is shutting down`);
  }

  private async closeListeners(): Promise<void> {
    const listeners = this.listeners;
    this.listeners = [];
    await Promise.all(listeners.map((l) => l.close()));
  }

  private held(sessionId: unknown): GateSession {
    if (typeof sessionId !== "string") throw new LuanetError("bad_request", `a session id is text, got ${describe(sessionId)}`);
    const s = this.sessions.get(sessionId);
    if (s === undefined) throw new LuanetError("no_such_session", `${this.name} holds no session ${sessionId}: it has ended`);
    return s;
  }

  /** Push `msg` to one client; a frame that cannot be encoded is the pusher's bad_value. */
  private push(s: GateSession, route: string, msg: unknown): void {
    this.send(s, encodeClient([ClientType.PUSH, route, msg]));
  }

  /** The luanet.gate.* functions (docs/protocol.md 13.7). */
  private functions(): Map<string, Handler> {
    const text = (x: unknown, what: string): string => {
      if (typeof x !== "string" || badName(x) !== null) throw new LuanetError("bad_request", `${what} must be a name (text), got ${describe(x)}`);
      return x;
    };
    const args = (a: unknown, func: string): Record<string, unknown> => {
      if (typeof a !== "object" || a === null) throw new LuanetError("bad_request", `${func} takes a map, got ${describe(a)}`);
      return a as Record<string, unknown>;
    };
    return new Map<string, Handler>([
      [GATE_FUNCTIONS.push, (a) => {
        const { s, r, m } = args(a, GATE_FUNCTIONS.push);
        this.push(this.held(s), text(r, "r (the route)"), m);
        return null;
      }],
      [GATE_FUNCTIONS.kick, (a) => {
        const { s, why } = args(a, GATE_FUNCTIONS.kick);
        if (typeof why !== "string") throw new LuanetError("bad_request", `why must be text, got ${describe(why)}`);
        this.kick(this.held(s), "kicked", why.slice(0, 1024));
        return null;
      }],
      [GATE_FUNCTIONS.set, (a) => {
        const { s, k, v } = args(a, GATE_FUNCTIONS.set);
        const session = this.held(s);
        const key = text(k, "k (the key)");
        if (key === "uid") throw new LuanetError("bad_request", "uid is bound by the auth function and cannot be set");
        const before = session.data;
        session.set(key, v);
        if (encodeClient([session.data]).length > MAX_SESSION_DATA) {
          session.data = before;
          throw new LuanetError("too_large", `${session.id}'s data would be over ${MAX_SESSION_DATA} bytes (it travels with every call)`);
        }
        return null;
      }],
      [GATE_FUNCTIONS.channel, (a) => {
        const { op, c, s } = args(a, GATE_FUNCTIONS.channel);
        const session = this.held(s);
        const name = text(c, "c (the channel)");
        if (op === "add") {
          if (!session.channels.has(name) && session.channels.size >= MAX_CHANNELS_PER_SESSION) throw new LuanetError("overloaded", `${session.id} is in ${MAX_CHANNELS_PER_SESSION} channels already`);
          session.channels.add(name);
          let members = this.channels.get(name);
          if (members === undefined) this.channels.set(name, (members = new Set()));
          members.add(session);
        } else if (op === "remove") {
          session.channels.delete(name);
          const members = this.channels.get(name);
          members?.delete(session);
          if (members?.size === 0) this.channels.delete(name);
        } else throw new LuanetError("bad_request", `op must be "add" or "remove", got ${describe(op)}`);
        return null;
      }],
      [GATE_FUNCTIONS.broadcast, (a) => {
        const { c, r, m } = args(a, GATE_FUNCTIONS.broadcast);
        const members = this.channels.get(text(c, "c (the channel)"));
        if (members === undefined) return 0;
        const body = encodeClient([ClientType.PUSH, text(r, "r (the route)"), m]);
        let n = 0;
        for (const s of [...members]) {
          this.send(s, body);
          n++;
        }
        return n;
      }],
      [GATE_FUNCTIONS.sessions, () => [...this.sessions.values()].filter((s) => s.announced).map((s) => ({ id: s.id, uid: s.uid }))],
    ]);
  }
}
