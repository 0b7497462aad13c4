/**
 * One service: everything it owns (its name, listener, handlers, mailbox, peers, sessions,
 * registration, onDisconnected and its limits) lives here. A process runs one service per script
 * it was given or started with `luanet.NewService`; each runs in tasks of its own (their
 * context, scheduler/task.ts), and the `luanet` global acts for the service of the task that is
 * running (runtime.ts).
 * @internal
 */
import { randomBytes } from "node:crypto";
import { basename, extname } from "node:path";
import { formatAddr, SOCK_STREAM, type NetAddr, type SocketType } from "../../stdlib/net.js";
import { LuanetError } from "../errors.js";
import { hostName } from "../host.js";
import { graceMs, stopping } from "../lifecycle.js";
import { log as processLog, loggerFor, loggerOf, setLogSource, type Logger } from "../log.js";
import { describeSpec, type RegistrySpec } from "../registry/select.js";
import type { Registrant, Registration, Registry, ServiceInfo } from "../registry/types.js";
import type { Instruction } from "../scheduler/instruction.js";
import { runAs } from "../scheduler/context.js";
import { halt } from "../scheduler/halt.js";
import { liveTasks } from "../scheduler/live.js";
import { spawnNamed } from "../scheduler/spawn.js";
import type { Task } from "../scheduler/task.js";
import { security } from "../security/settings.js";
import type { Listener } from "../transport/types.js";
import type { Envelope } from "../wire/envelope.js";
import { DEFAULTS, type Config } from "./config.js";
import { Conn } from "./conn.js";
import { Dispatcher } from "./dispatch.js";
import type { Instance } from "./instance.js";
import { Mailbox } from "./mailbox.js";
import { Routes } from "./group.js";
import { Membership } from "./membership.js";
import { PeerTable, transportFor } from "./peers.js";
import { Presence, type DisconnectHandler } from "./presence.js";
import { Reloads } from "./reload.js";
import { reservedFunctions } from "./reserved.js";
import { ServiceCounters } from "../stats/counters.js";
import type { Handler } from "./dispatch.js";
import type { Runtime } from "./runtime.js";
import { SessionTable } from "./sessions.js";
import { ServiceState } from "./state.js";
import type { Gate } from "../gate/gate.js";
import type { SessionWatch } from "../gate/watch.js";

/** The drain's last step: calls keep being answered `draining` until none has come for QUIET_MS,
 * at most LINGER_MS (see drainNow). */
const QUIET_MS = 250;
const LINGER_MS = 2000;

const isLoopback = (addr: NetAddr): boolean =>
  addr.family === "local" || (addr.family === "inet" ? addr.ip.startsWith("127.") : addr.ip === "::1" || addr.ip === "::ffff:127.0.0.1");

export class Service implements Registrant {
  /** Its name, once StartLocalService gives one (null: a script that only calls). */
  private _name: string | null = null;
  type: SocketType = SOCK_STREAM;
  /** The bound listen address, once listening. */
  addr: NetAddr | null = null;
  readonly token = randomBytes(18).toString("base64url");
  readonly started = Date.now();
  readonly config: Config;
  readonly mailbox: Mailbox;
  readonly presence: Presence;
  readonly dispatcher: Dispatcher;
  readonly peers: PeerTable;
  readonly sessions: SessionTable;
  readonly membership: Membership;
  /** Its routes to the groups it calls. */
  readonly routes = new Routes();
  /** luanet.State: what outlives a hot reload. */
  readonly state = new ServiceState();
  /** Its hot reloads (reload.ts). */
  readonly reloads: Reloads;
  /** Its always-on counters (stats/counters.ts). */
  readonly counters: ServiceCounters;
  /** The luanet.* functions it answers besides its own (reserved.ts). */
  readonly reserved: Map<string, Handler>;
  log: Logger;
  /** The task that runs its script (null for the process's own service until it has one). */
  root: Task | null = null;
  /** StartLocalService's work, once called. */
  listening: Promise<NetAddr> | null = null;
  /** Start-up steps begun (listening, registering): NewService waits for them. */
  readonly startup: Promise<unknown>[] = [];
  private listener: Listener | null = null;
  /** The registry its script asked for (Register2Name), or its starter's. */
  private asked: RegistrySpec | null;
  private _registry: Registry | null = null;
  private registration: Promise<void> | null = null;
  private kept: Registration | null = null;
  private stopped = false;
  /** Its drain, once begun. */
  private drained: Promise<void> | null = null;
  /** False for a service its callers need until they have left themselves (the name service):
   * told to stop, it skips the drain and shuts down at once. */
  drainsFirst = true;
  private readonly registeringHooks: (() => void)[] = [];
  private readonly closedHooks: ((conn: Conn, error?: Error) => void)[] = [];
  /** Start-up failures logged already (registering fails with the listener's error: once). */
  readonly reported = new WeakSet<Error>();
  /** Its gate, once luanet.StartGate began one (runtime/gate/; loaded then). */
  gate: Promise<Gate> | null = null;
  /** Its subscription to session ends, once luanet.OnSessionEnd made one. */
  sessionWatch: SessionWatch | null = null;
  /** Who it is in a cluster file (`luanet.instance`), or null when started by hand. */
  private _instance: Instance | null = null;

  constructor(readonly runtime: Runtime, public script: string | null, public args: readonly string[], parent: Service | null) {
    this.config = { ...(parent?.config ?? DEFAULTS) };
    this.asked = parent?.asked ?? null;
    this.log = parent === null ? processLog : loggerFor(script === null ? "service" : basename(script, extname(script)));
    this.counters = new ServiceCounters(runtime.counting);
    this.mailbox = new Mailbox(this.config);
    // Its parts log through the service, whose logger takes its name once it has one.
    const log = loggerOf((level, message, fields) => this.log[level](message, fields));
    this.presence = new Presence(() => this.stopping, log);
    this.dispatcher = new Dispatcher(this);
    this.peers = new PeerTable(this);
    this.sessions = new SessionTable(log);
    this.membership = new Membership(this);
    this.reloads = new Reloads(this);
    this.reserved = reservedFunctions(this);
  }

  get name(): string {
    return this._name!;
  }
  /** The name, or null before StartLocalService. */
  get named(): string | null {
    return this._name;
  }

  /** True once it (or the whole process) has begun to stop, or to drain. */
  get stopping(): boolean {
    return this.stopped || this.drained !== null || stopping();
  }

  get instance(): Instance | null {
    return this._instance;
  }

  /** It was started from a cluster file as `instance`: its group is in its first registration,
   * as if it had called JoinGroup. */
  startedAs(instance: Instance): void {
    this._instance = instance;
    if (instance.group !== null) this.membership.groups.add(instance.group);
  }

  get rpcTimeout(): number {
    return this.config.rpcTimeout;
  }

  /** The registry it looks names up in (and registers with). */
  get registry(): Registry {
    return (this._registry ??= this.runtime.registries.forService(this.runtime.registries.specFor(this.asked), this));
  }

  /** The process's first service logs as the process; the others under their own names. */
  private get isRoot(): boolean {
    return this === this.runtime.root;
  }

  /** A task of this service (halted when it stops). */
  spawn(name: string, body: () => Generator<Instruction, void, unknown>): Task {
    return spawnNamed(name, body, [], this);
  }

  info(): ServiceInfo {
    return {
      name: this.name, type: this.type, addr: this.addr!, pid: process.pid, host: hostName(),
      funcs: [...this.dispatcher.handlers.keys()], started: this.started, groups: [...this.membership.groups],
    };
  }

  claimed(info: ServiceInfo): void {
    this.membership.claimed(info.groups);
  }

  receive(conn: Conn, envelope: Envelope, cost: number): void {
    this.dispatcher.receive(conn, envelope, cost);
  }

  /** Run `hook` for every connection of this service that closes. */
  onConnClosed(hook: (conn: Conn, error?: Error) => void): void {
    this.closedHooks.push(hook);
  }

  connClosed(conn: Conn, error?: Error): void {
    for (const hook of this.closedHooks) hook(conn, error);
  }

  /** Name it and listen on `addr` (see luanet.StartLocalService, which checks the arguments). */
  listen(name: string, type: SocketType, addr: NetAddr, onDisconnected: DisconnectHandler | undefined): Promise<NetAddr> {
    this._name = name;
    this.type = type;
    if (this.isRoot) setLogSource(name);
    else this.log = loggerFor(name);
    this.presence.handler = onDisconnected === undefined ? null : (peer, reason) => runAs(this, onDisconnected, peer, reason);
    this.runtime.named(this);
    this.listening = transportFor(type)
      .listen(addr, (link) => new Conn(this, link, null), this.config)
      .then((listener) => {
        if (this.stopped) {
          void listener.close();
          throw new LuanetError("shutting_down", `${name} stopped while it was starting`);
        }
        this.listener = listener;
        this.addr = listener.addr;
        this.log.info(`${name} listening on ${formatAddr(listener.addr)}`);
        this.warnIfExposed(listener.addr);
        return listener.addr;
      }, (error: NodeJS.ErrnoException) => {
        // Not started after all: the script may try again (another address, another name).
        this.runtime.unnamed(this);
        this._name = null;
        this.listening = null;
        this.presence.handler = null;
        throw new LuanetError(error.code === "EADDRINUSE" ? "address_in_use" : "listen_failed", `${name} cannot listen on ${formatAddr(addr)}: ${error.message}`);
      });
    this.startup.push(this.listening);
    return this.listening;
  }

  /** One warning when a service anyone on the network can reach has nothing to tell friend from foe. */
  private warnIfExposed(addr: NetAddr): void {
    const { secret, tls } = security();
    if (isLoopback(addr) || secret !== null || (tls !== null && this.type === SOCK_STREAM)) return;
    this.log.warn(`${this.name} listens on ${formatAddr(addr)}, beyond this machine, with no cluster secret${this.type === SOCK_STREAM ? " and no TLS" : " (TLS does not cover UDP)"}: ` +
      `anyone who can reach it can call its functions. Set one with --secret-file or LUANET_SECRET_FILE (README, "Security").`);
  }

  /** Register with the registry at `spec` (or the one chosen for the process); the same promise every time. */
  register(spec: RegistrySpec): Promise<void> {
    const registries = this.runtime.registries;
    if (registries.overrules(spec)) {
      // At info level once, by the process's own service: a bootstrap's 40 rooms would say it 40 times.
      const note = `registering in ${this.registry.where} (chosen on the command line or in the environment), not at ${describeSpec(spec)} as the script says`;
      // Started by luanet up (an instance), the cluster's registry is the point: not worth a line.
      if (this.isRoot && this._instance === null) this.log.info(note);
      else this.log.debug(note);
    } else if (this.registration === null && (this.asked === null || describeSpec(this.asked) !== describeSpec(spec))) {
      this.asked = spec;
      this._registry = null;
    }
    if (this.registration === null) {
      this.registration = this.listening!.then(() => new Promise<void>((resolve, reject) => {
        if (this.stopped) return reject(new LuanetError("shutting_down", `${this.name} stopped before it registered`));
        this.kept = this.registry.register(this, (error) => (error === null ? resolve() : reject(error)));
      }));
      this.startup.push(this.registration);
      for (const hook of this.registeringHooks.splice(0)) hook();
    }
    return this.registration;
  }

  /** Run `hook` once Register2Name has been called (at once if it has): what joins a group on
   * the service's behalf (a gate joins `luanet.gates`) waits for it. */
  whenRegistering(hook: () => void): void {
    if (this.registration !== null) hook();
    else this.registeringHooks.push(hook);
  }

  /** Register2Name's work (null before it is called). */
  registered(): Promise<void> | null {
    return this.registration;
  }

  /** A function was registered: publish it, if registered. */
  republish(): void {
    this.kept?.republish();
  }

  /**
   * Stop this service only: no handler starts, queued calls are answered `shutting_down`, its
   * tasks are halted (their finally blocks run; the registrar's leaves the registry), its
   * listener and connections close. The rest of the process carries on.
   */
  async stop(why: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.log.info(`${this} stopping: ${why}`);
    this.runtime.unnamed(this);
    this.dispatcher.stop();
    for (const task of liveTasks()) if (task.context === this) halt(task);
    // Its halted handlers answer shutting_down from their finally blocks: let them, then hand
    // every connection what is queued on it before closing, and the listener last (closing it
    // drops the links it accepted at once).
    const until = performance.now() + graceMs;
    while (liveTasks().some((task) => task.context === this) && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.runtime.links.closeAll(graceMs, (conn) => conn.service === this);
    await this.closeListener();
  }

  /**
   * Leave, then finish what it runs, before a stop (SIGTERM, SIGINT; later a supervisor's stop of
   * one service): (1) leave the registry, waiting (at most rpcTimeout) for it to confirm, so the
   * name resolves to nothing and its groups lose it (callers watching them hear of it at once);
   * calls that arrive meanwhile still run; (2) refuse every call that arrives or is queued with
   * `draining` (it never ran: a group caller tries another member), while the handlers running
   * go on; (3) wait until none runs, at most `drainGrace`; (4) linger while calls still arrive
   * (below). Its tasks keep running throughout: its
   * GetMsg loops, outgoing calls and messages work, messages still reach its mailbox. The stop
   * comes after, from the caller (the process's shutdown). The same promise every time.
   */
  drain(): Promise<void> {
    return (this.drained ??= this.drainNow());
  }

  private async drainNow(): Promise<void> {
    if (this.stopped || !this.drainsFirst) return;
    // A gate's players are told first (and the session watchers), so they can go to another gate
    // while this one leaves.
    await this.gate?.then((gate) => gate.drain(), () => {}); // (a gate that failed to start has nothing to drain)
    const kept = this.kept;
    if (kept !== null) {
      const where = this.registry.where;
      this.log.info(`${this} draining: leaving ${where}`);
      try {
        await kept.leave(this.rpcTimeout);
      } catch (error) {
        this.log.warn(`${this} could not leave ${where} (${(error as Error).message}); draining all the same`);
      }
    }
    this.dispatcher.drain();
    const grace = this.config.drainGrace;
    const lingerUntil = performance.now() + Math.min(LINGER_MS, grace);
    await this.finishRunning(grace);
    // (4) Callers that chose this service just before they heard it left may still be sending:
    // go on answering `draining` (they try another member) until none has sent a call for
    // QUIET_MS, at most LINGER_MS, so that no call meets a connection closing under it.
    for (let quiet; (quiet = performance.now() - this.dispatcher.lastCall) < QUIET_MS && performance.now() < lingerUntil;) {
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS - quiet));
    }
  }

  private async finishRunning(grace: number): Promise<void> {
    const running = this.dispatcher.runningHandlers;
    if (running === 0) return;
    this.log.info(`${this} draining: waiting for ${running} call(s) to finish (at most ${grace} ms)`);
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([
      this.dispatcher.idle().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), grace))),
    ]);
    clearTimeout(timer);
    if (expired) this.log.warn(`${this}: ${this.dispatcher.runningHandlers} call(s) still running at the end of the drain grace (${grace} ms, luanet.Configure({ drainGrace }) or LUANET_DRAIN_MS): they are halted, their callers get shutting_down`);
  }

  /** The longest its drain may take (ms): leaving the registry, then the grace. */
  get drainLimit(): number {
    return this.drainsFirst ? this.rpcTimeout + this.config.drainGrace : 0;
  }

  /** Process shutdown begins: answer queued calls, start no handler (the shutdown halts its tasks). */
  beginShutdown(): void {
    this.dispatcher.stop();
  }

  /** Process shutdown, its tasks halted: close the listener. */
  closeListener(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    return listener?.close() ?? Promise.resolve();
  }

  toString(): string {
    return this._name ?? (this.script === null ? "this process" : basename(this.script));
  }
}
