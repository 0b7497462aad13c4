/**
 * The supervisor of one host's share of a cluster: the units (processes) its cluster file makes,
 * started in the file's order and stopped in reverse, restarted when they crash (unit.ts), and
 * the operations the tools ask of it through the registry (up.ts registers it as
 * `luanet.supervisor@<host>`): ps, restart, scale, stop, start. Operations run one at a time.
 * @internal
 */
import { LuanetError } from "../errors.js";
import type { ServiceInfo } from "../registry/types.js";
import { pidAlive } from "../host.js";
import { MAX_INSTANCES, type ClusterFile } from "./file.js";
import type { LogStream } from "./log-stream.js";
import { plan, type PlanContext, type Planned } from "./plan.js";
import { ProcStats, type Usage } from "./proc-stats.js";
import type { Found } from "./scan.js";
import { Unit, type Member, type Status } from "./unit.js";

/** A supervisor's service name is this and its host's name. */
export const SUPERVISOR_PREFIX = "luanet.supervisor@";

/** One row of `luanet ps`: a service (a unit's member). */
export interface PsRow {
  name: string;
  /** The unit: its process name, or the service's own name. */
  process: string;
  pid: number | null;
  host: string;
  status: Status;
  restarts: number;
  /** ms since it was started (or found); null while down. */
  uptime: number | null;
  cpu: number | null;
  rss: number | null;
  group: string | null;
  adopted: boolean;
  /** Why it is down, when it is. */
  why: string | null;
}

/** What an operation did, per unit: "Room-2: restarted (pid 4101 -> 4188)". */
export type Done = string[];

const USAGE_EVERY_MS = 2000;
/** Operations (tool requests) waiting behind the one running before more are refused. */
const MAX_WAITING = 8;

export class Supervisor {
  /** In start order. */
  private units: Unit[] = [];
  /** Instances of scalable entries, as scaled (the file's number until then). */
  private readonly counts = new Map<string, number>();
  private busy: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private readonly stats = new ProcStats();
  private readonly usage = new Map<number, Usage>();
  private readonly sampler: NodeJS.Timeout;
  private stopping = false;

  constructor(
    private readonly file: ClusterFile,
    private readonly host: string,
    private readonly context: PlanContext,
    private readonly stream: LogStream,
    private readonly stopTimeoutMs: number,
    /** The name service unit, when `luanet up` started (or adopted) it: first up, last down. */
    private readonly nameservice: Unit | null,
  ) {
    for (const entry of file.services) if (entry.instances !== null) this.counts.set(entry.key, entry.instances);
    this.units = this.planned().map((spec) => this.unit(spec));
    for (const unit of this.all()) this.stream.reserve(unit.id);
    this.sampler = setInterval(() => this.sample(), USAGE_EVERY_MS).unref();
  }

  private planned(): Planned[] {
    return plan(this.file, this.counts, this.context);
  }

  private unit(spec: Planned): Unit {
    return new Unit(spec, this.stream, this.stopTimeoutMs);
  }

  /** The units of the plan as counts stand now, keeping those that exist; returns those it made. */
  private replan(): Unit[] {
    const old = new Set(this.units);
    this.units = this.planned().map((spec) => this.units.find((u) => u.id === spec.id) ?? this.unit(spec));
    return this.units.filter((u) => !old.has(u));
  }

  private all(): Unit[] {
    return this.nameservice === null ? this.units : [this.nameservice, ...this.units];
  }

  /** One operation at a time: each waits for the one before; at most MAX_WAITING wait. What an
   * operation did goes to the log stream too. */
  private serial<T extends Done | void>(op: () => Promise<T>): Promise<T> {
    if (this.waiting >= MAX_WAITING) return Promise.reject(new LuanetError("overloaded", `${this.waiting} operations are waiting already (a restart of many services takes a while): see luanet ps, and try again once they are done`));
    this.waiting++;
    const run = () => {
      this.waiting--;
      return op();
    };
    const next = this.busy.then(run, run).then((done) => {
      for (const line of (done as Done | undefined) ?? []) this.stream.line("up", line);
      return done;
    });
    this.busy = next.catch(() => {});
    return next;
  }

  /** Adopt the units whose services `registered` (the registry's list) shows alive on this host,
   * so a new supervisor takes over from one that died instead of starting duplicates. Instances
   * of a scalable entry beyond its count (it was scaled up) are adopted too. */
  adopt(registered: readonly ServiceInfo[], running: ReadonlyMap<string, Found>): Done {
    const here = new Map(registered.filter((s) => s.host === this.host && pidAlive(s.pid)).map((s) => [s.name, s]));
    for (const entry of this.file.services) {
      if (entry.instances === null || entry.process !== null) continue;
      let n = this.counts.get(entry.key)!;
      const nth = (i: number) => entry.name.replaceAll("{index}", String(i));
      while (n < MAX_INSTANCES && (here.has(nth(n + 1)) || running.has(nth(n + 1)))) n++;
      if (n !== this.counts.get(entry.key)) {
        this.counts.set(entry.key, n);
        this.replan();
      }
    }
    const done: Done = [];
    for (const unit of this.all()) {
      if (unit.alive) continue;
      const found = unit.spec.members.map((m) => here.get(m.name));
      const pid = found[0]?.pid;
      const seen = running.get(unit.id) ?? (pid !== undefined && found.every((s) => s?.pid === pid) ? { pid, since: Math.min(...found.map((s) => s!.started)) } : undefined);
      if (seen === undefined) continue;
      unit.adopt(seen.pid, seen.since);
      done.push(`${unit.id}: adopted (pid ${seen.pid}; its output goes to its log file, not here)`);
    }
    return done;
  }

  /** Start every unit not running, entry by entry in the file's order (an entry's units together). */
  startAll(): Promise<Done> {
    return this.serial(async () => {
      const done: Done = [];
      const stages = [...new Set(this.units.map((u) => (u.spec as Planned).stage))];
      for (const stage of stages) {
        if (this.stopping) break;
        const units = this.units.filter((u) => (u.spec as Planned).stage === stage && !u.alive);
        await Promise.all(units.map((u) => u.start().then(() => done.push(`${u.id}: started (pid ${u.pid})`), (error: Error) => done.push(`${u.id}: ${error.message}`))));
      }
      return done;
    });
  }

  /** Stop every unit, in reverse order, each drained; then `beforeNameService` (the supervisor
   * leaves the registry), then the name service. */
  stopAll(beforeNameService: () => Promise<void> = async () => {}): Promise<void> {
    this.stopping = true;
    clearInterval(this.sampler);
    return this.serial(async () => {
      for (const unit of [...this.units].reverse()) {
        const alive = unit.alive;
        await unit.stop(); // one waiting to restart too: its retry is cancelled
        if (alive) this.stream.line("up", `${unit.id}: stopped`);
      }
      await beforeNameService();
      await this.nameservice?.stop();
    });
  }

  /** The units `target` names: a unit, a service, an entry of the file, or a group. */
  private find(target: string): Unit[] {
    return this.all().filter((u) => u.id === target || u.spec.members.some((m) => m.name === target || m.key === target || m.instance?.group === target));
  }

  /** The services of its units (not the name service). */
  members(): Member[] {
    return this.units.flatMap((u) => u.spec.members);
  }

  /** True if `target` names something this supervisor runs. */
  has(target: string): boolean {
    return this.find(target).length > 0;
  }

  /** Restart `target`'s units one at a time: each drained and stopped, started again, and ready
   * (registered) before the next is stopped, so a group keeps serving throughout. */
  restart(target: string): Promise<Done> {
    return this.serial(async () => {
      const done: Done = [];
      for (const unit of this.find(target)) {
        const before = unit.pid;
        await unit.stop();
        unit.restarts++;
        try {
          await unit.revive();
          done.push(`${unit.id}: restarted (pid ${before ?? "-"} -> ${unit.pid})`);
        } catch (error) {
          done.push(`${unit.id}: ${(error as Error).message}`);
          break; // do not take down the next one while this one fails
        }
      }
      return done;
    });
  }

  stop(target: string): Promise<Done> {
    if (this.nameservice !== null && this.find(target).includes(this.nameservice)) {
      // The tools reach this supervisor through it: stopped, nothing could start it again.
      return Promise.reject(new LuanetError("bad_request", "the name service stops last, with luanet up itself (Ctrl-C or SIGTERM): the tools reach the supervisor through it"));
    }
    return this.serial(async () => {
      const done: Done = [];
      for (const unit of this.find(target).reverse()) {
        const pid = unit.pid;
        await unit.stop();
        done.push(`${unit.id}: stopped${pid === null ? " (it was not running)" : ` (pid ${pid})`}`);
      }
      return done;
    });
  }

  start(target: string): Promise<Done> {
    return this.serial(async () => {
      const done: Done = [];
      for (const unit of this.find(target)) {
        if (unit.alive) {
          done.push(`${unit.id}: already running (pid ${unit.pid})`);
          continue;
        }
        await unit.revive().then(() => done.push(`${unit.id}: started (pid ${unit.pid})`), (error: Error) => done.push(`${unit.id}: ${error.message}`));
      }
      return done;
    });
  }

  /** Run `count` instances of the entry `key`: new ones start together; surplus ones (the
   * highest numbers first) are drained and stopped one at a time. */
  scale(key: string, count: number): Promise<Done> {
    const entry = this.file.services.find((s) => s.key === key);
    if (entry === undefined) return Promise.reject(new LuanetError("bad_request", `the cluster file ${this.file.path} has no service "${key}"`));
    if (entry.instances === null) return Promise.reject(new LuanetError("bad_request", `${key} is a single service: give it "instances" in ${this.file.path} to scale it`));
    if (entry.process !== null) return Promise.reject(new LuanetError("bad_request", `${key}'s instances share the process "${entry.process}": scaling needs a process per instance (remove "process" from it in ${this.file.path})`));
    if (!Number.isInteger(count) || count < 0 || count > MAX_INSTANCES) return Promise.reject(new LuanetError("bad_request", `a count must be a whole number from 0 to ${MAX_INSTANCES}, got ${count}`));
    return this.serial(async () => {
      const done: Done = [];
      const before = this.counts.get(key)!;
      this.counts.set(key, count);
      const old = this.units;
      const added = this.replan(); // only those: not ones stopped on purpose
      const surplus = old.filter((u) => !this.units.includes(u)).reverse();
      await Promise.all(added.map((u) => u.start().then(() => done.push(`${u.id}: started (pid ${u.pid})`), (error: Error) => done.push(`${u.id}: ${error.message}`))));
      for (const unit of surplus) {
        const pid = unit.pid;
        await unit.stop();
        done.push(`${unit.id}: stopped${pid === null ? "" : ` (pid ${pid})`}`);
      }
      done.push(`${key}: ${before} -> ${count} instances`);
      return done;
    });
  }

  ps(): PsRow[] {
    const now = Date.now();
    return this.all().flatMap((unit) => unit.spec.members.map((m): PsRow => {
      const usage = unit.pid === null ? undefined : this.usage.get(unit.pid);
      return {
        name: m.name, process: unit.id, pid: unit.pid, host: this.host, status: unit.status, restarts: unit.restarts,
        uptime: unit.pid === null ? null : now - unit.since, cpu: usage?.cpu ?? null, rss: usage?.rss ?? null,
        group: m.instance?.group ?? null, adopted: unit.adopted, why: unit.pid === null ? unit.why : null,
      };
    }));
  }

  private sample(): void {
    const pids = new Set<number>();
    for (const unit of this.all()) {
      if (unit.pid === null) continue;
      pids.add(unit.pid);
      const usage = this.stats.sample(unit.pid);
      if (usage !== null) this.usage.set(unit.pid, usage);
    }
    this.stats.keep(pids);
    for (const pid of this.usage.keys()) if (!pids.has(pid)) this.usage.delete(pid);
  }
}
