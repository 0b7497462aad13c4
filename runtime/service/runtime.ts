/**
 * The process's service layer, one object: its services (the script's own, and those started with
 * `luanet.NewService`), the connections they hold, and the registries they use. The start module
 * makes it (runtime/process.ts) and hands it what it needs from outside (a script loader); the
 * `luanet` global acts, through it, for the service of the task that is running.
 * @internal
 */
import { existsSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { describe, LuanetError, thrown } from "../errors.js";
import { shutdown } from "../lifecycle.js";
import { RegistryChoice } from "../registry/select.js";
import type { Registrant, RegistryHost } from "../registry/types.js";
import type { NetAddr } from "../../stdlib/net.js";
import type { Instruction } from "../scheduler/instruction.js";
import { currentContext } from "../scheduler/context.js";
import { setAmbient } from "../scheduler/drive.js";
import { awaitPromise, settleValue } from "../scheduler/promise.js";
import { Running, spawnNamed } from "../scheduler/spawn.js";
import type { Task } from "../scheduler/task.js";
import { InFlight } from "./group.js";
import { Links } from "./links.js";
import { NameServiceConnection } from "./ns-link.js";
import type { ReloadResult } from "./reload.js";
import { ReplyCache } from "./reply-cache.js";
import { instanceFromEnv, type Instance } from "./instance.js";
import { Service } from "./service.js";
import { countingFrom } from "../stats/counters.js";
import { ProcessStats } from "../stats/process-stats.js";
import { Tracing, tracingFrom } from "../tracing/tracing.js";

type ModuleNamespace = { default?: unknown } & Record<string, unknown>;
/** Load `file` and run its module body; `instance` > 1: evaluate it anew (its own module state). */
export type ScriptLoader = (file: string, instance: number) => Promise<ModuleNamespace>;
/** Load `file` anew for a hot reload, as loader.ts reloadScript (`tag`: never used before). */
export type ScriptReloader = (file: string, tag: number, known: Set<string>) => Promise<{ exports: ModuleNamespace; files: string[] }>;

const noReloads: ScriptReloader = () => Promise.reject(new LuanetError("script_load", "this process loads no scripts, so it reloads none"));

export class Runtime implements RegistryHost {
  readonly links = new Links();
  readonly replies = new ReplyCache();
  /** Calls in flight to each group member, over all the services of the process. */
  readonly inFlight = new InFlight();
  readonly registries: RegistryChoice;
  /** Whether services count their calls (LUANET_STATS; stats/counters.ts). */
  readonly counting: boolean;
  /** The process's event-loop delay, memory and CPU, for luanet.stats. */
  readonly processStats = new ProcessStats();
  /** Spans for its calls when an OpenTelemetry SDK is registered (LUANET_TRACING; tracing/tracing.ts). */
  readonly tracing: Tracing;
  /** The process's own service: the script's (or a built-in's, or a library user's). */
  readonly root: Service;
  private readonly services = new Set<Service>();
  /** Services with a name, for calls between services of this process. */
  private readonly byName = new Map<string, Service>();
  /** Scripts load one at a time: while one's module body runs, it is the current service's. */
  private loading: Promise<unknown> = Promise.resolve();
  private readonly instances = new Map<string, number>();
  /** A service that fails ends the process (exit 1), rather than stopping alone: set for the
   * processes `luanet up` runs several services in, so the supervisor restarts them. */
  failFast = false;
  /** NewService's failure for a service whose start has not finished. */
  private readonly starting = new Map<Service, (error: unknown) => void>();
  /** Reloads so far, over all services: each one's ES modules get a tag of their own. */
  private reloadTags = 0;

  constructor(private readonly load: ScriptLoader, env: NodeJS.ProcessEnv = process.env, private readonly reloader: ScriptReloader = noReloads) {
    this.registries = new RegistryChoice(this, env);
    this.counting = countingFrom(env);
    this.tracing = new Tracing(tracingFrom(env));
    this.root = new Service(this, null, [], null);
    this.services.add(this.root);
    const instance = instanceFromEnv(env);
    if (instance !== null) this.root.startedAs(instance);
  }

  /** Every service of the process, its own first. */
  all(): Service[] {
    return [...this.services];
  }

  /**
   * The service the running code acts for: its task's. Outside any task (a plain callback) that
   * is the process's own service while it has no other; with several, a TypeError names `what`.
   */
  current(what: string): Service {
    const service = this.currentOrNull();
    if (service !== null) return service;
    throw new TypeError(`${what} was called outside any task while this process runs ${this.services.size} services (its own script's and those started with ` +
      "luanet.NewService), so it cannot tell which one it is for: call it from the service's own code (its script's top level, a handler, a task it spawned); " +
      "instead of a setTimeout or promise callback, use a task with Sche.Sleep or Sche.Await");
  }

  /** The current service, or null where none can be told (for luanet.log, which never throws). */
  currentOrNull(): Service | null {
    const context = currentContext();
    return context instanceof Service ? context : this.services.size === 1 ? this.root : null;
  }

  /** @internal Service.listen (luanet.StartLocalService refuses a name taken here first). */
  named(service: Service): void {
    this.byName.set(service.name, service);
  }
  unnamed(service: Service): void {
    const name = service.named;
    if (name !== null && this.byName.get(name) === service) this.byName.delete(name);
  }

  /** The service of this process called `name`, if it runs. */
  local(name: string): Service | undefined {
    const service = this.byName.get(name);
    return service === undefined || service.stopping ? undefined : service;
  }

  // --- RegistryHost ---------------------------------------------------------------------------
  nameService(addr: NetAddr, self: Registrant | null) {
    return new NameServiceConnection((self as Service | null) ?? this.root, addr);
  }
  nameGone(name: string, why: string): void {
    for (const service of this.services) service.peers.nameGone(name, why);
  }
  hasServices(): boolean {
    return this.byName.size > 0;
  }

  // --- scripts --------------------------------------------------------------------------------

  /** Load `file` as `task`'s script: its module body runs inside `task` (as its service). */
  loadAs(task: Task, file: string, instance: number): Generator<Instruction, ModuleNamespace, unknown> {
    return this.inLoad(task, () => this.load(file, instance));
  }

  /**
   * Hot reload `service` in the calling task (one of the service's: the reserved function
   * `luanet.reload` runs there): its script's module body runs anew, as in loadAs (see reload.ts).
   * A failure (ScriptLoadError, naming the file and line) changes nothing.
   */
  *reload(service: Service): Generator<Instruction, ReloadResult, unknown> {
    const file = service.script;
    if (file === null) throw new LuanetError("script_load", `${service} runs no script, so there is nothing to reload`);
    const task = Running()!;
    return yield* service.reloads.run((known) => this.inLoad(task, () => this.reloader(file, ++this.reloadTags, known)));
  }

  /** Run `load` (a script's module body) inside `task`, one load at a time. */
  private *inLoad<T>(task: Task, load: () => Promise<T>): Generator<Instruction, T, unknown> {
    const before = this.loading;
    let done!: () => void;
    this.loading = new Promise<void>((resolve) => (done = resolve));
    try {
      yield* awaitPromise(before);
      setAmbient(task); // the module body runs while the task waits for the load, but inside it
      try {
        return yield* awaitPromise(load());
      } finally {
        setAmbient(null);
      }
    } finally {
      done();
    }
  }

  /**
   * Start `script` (a path relative to `parent`'s script's folder) as a new service of this
   * process, with `args` as its luanet.args. Resolves with its name (null if it names none) once
   * its module body has run and the start-up steps it began (StartLocalService, Register2Name)
   * are done; rejects with its error (the service is stopped then).
   */
  newService(parent: Service, script: string, args: readonly string[], startedAs: Instance | null = null): Promise<string | null> {
    const file = resolve(parent.script === null ? process.cwd() : dirname(parent.script), script);
    if (!existsSync(file)) return Promise.reject(new LuanetError("script_load", `luanet.NewService: no such script ${file} (${describe(script)}, relative to ${parent.script === null ? "the working folder" : `the folder of ${parent.script}`})`));
    const child = new Service(this, file, Object.freeze([...args]), parent);
    if (startedAs !== null) child.startedAs(startedAs);
    this.services.add(child);
    const instance = (this.instances.get(file) ?? 0) + 1;
    this.instances.set(file, instance);
    const runtime = this;
    // Its root task failing settles this (rootFailed), whenever it fails while starting.
    let fail!: (error: unknown) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    this.starting.set(child, fail);
    const loaded = new Promise<void>((resolve) => {
      child.root = spawnNamed(`service ${basename(file)}`, function* () {
        const exports = yield* runtime.loadAs(child.root!, file, instance);
        resolve();
        const main = typeof exports === "function" ? exports : exports?.default;
        if (typeof main === "function") yield* settleValue(main(...child.args));
      }, [], child);
    });
    return Promise.race([loaded.then(() => Promise.all(child.startup)), failed])
      .then(() => child.named, (error: unknown) => {
        void this.stopService(child, `it failed to start: ${thrown(error).message}`);
        throw error;
      })
      .finally(() => this.starting.delete(child));
  }

  /**
   * An error escaped `task` and nobody joins it. The root task of a service started by NewService
   * stops that service (the rest carry on): returns true. Anything else is not for the runtime.
   */
  rootFailed(task: Task, error: unknown): boolean {
    const service = task.context;
    if (!(service instanceof Service) || service === this.root || task !== service.root) return false;
    const fail = this.starting.get(service);
    if (fail !== undefined) fail(error); // NewService reports it, and stops the service
    else {
      service.log.error(`${service} failed`, { error: error instanceof Error ? error : new Error(thrown(error).message) });
      if (this.failFast) shutdown(1);
      else void this.stopService(service, "its script failed");
    }
    return true;
  }

  /** A start-up step nobody waited for failed: the process's own service ends the process (as
   * it always has); another one stops. */
  startFailed(service: Service, what: string, error: Error): void {
    if (service.stopping) return; // it stopped meanwhile (and said why): this is only the echo
    service.log.error(`${what} failed: ${error.message}`);
    if (service === this.root || this.failFast) shutdown(1);
    else void this.stopService(service, `${what} failed`);
  }

  /** Stop one service (luanet.StopService); the process's own one too, the process stays up
   * while anything else runs. */
  stopService(service: Service, why: string): Promise<void> {
    if (service !== this.root) this.services.delete(service);
    return service.stop(why);
  }

  /** The process was told to stop: drain every service at once (Service.drain). */
  async drain(): Promise<void> {
    await Promise.all([...this.services].map((service) => service.drain()));
  }

  /** The longest `drain` may take (ms). */
  drainLimit(): number {
    return Math.max(0, ...[...this.services].map((service) => service.drainLimit));
  }

  /** Process shutdown has begun: no service starts a handler any more. */
  beginShutdown(): void {
    for (const service of this.services) service.beginShutdown();
  }

  /** Process shutdown, the tasks halted: close the listeners, then every connection, waiting at
   * most `graceMs` for a slow receiver to take what is queued. */
  async close(graceMs: number): Promise<void> {
    await Promise.all([...this.services].map((service) => service.closeListener()));
    await this.links.closeAll(graceMs);
  }
}

