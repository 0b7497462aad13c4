/**
 * The registry backed by luanet's built-in name service: one per service and name service
 * address, talking over that service's own connection to it (the name service holds one
 * registration per connection). Its registrar (registrar.ts) claims the name with Register,
 * which carries the service's token, the secret that lets it, and only it, register its name
 * again; then holds it with a heartbeat every second, re-registers at once when the connection
 * drops, and republishes functions registered later. Leaving (a drain) stops the registrar and
 * asks Unregister, over the same connection, which stays open for the service's own calls (a
 * name service older than Unregister: the connection is closed, which drops the registration).
 * @internal
 */
import { formatAddr, type NetAddr } from "../../stdlib/net.js";
import { describe, LuanetError, RegistryAwayError, RPCError } from "../errors.js";
import { Block, WakeUp } from "../scheduler/block.js";
import { halt } from "../scheduler/halt.js";
import type { Instruction } from "../scheduler/instruction.js";
import type { Task } from "../scheduler/task.js";
import { keepRegistered, type Claimer } from "./registrar.js";
import { inTask } from "../scheduler/promise.js";
import { Sleep } from "../scheduler/sleep.js";
import { badRegistration, publicInfo } from "./validate.js";
import { LIST_PAGE, type NameServiceLink, type Registrant, type Registration, type Registry, type RegistryHost, type ServiceInfo } from "./types.js";

export const DEFAULT_NAMESERVICE = "127.0.0.1:8010";
const HEARTBEAT_MS = 1000;
/** The longest wait between tries to register while the name service is away. */
const MAX_RETRY_MS = 250;
/** How often a holder whose name another process took tries to claim it back. */
const RECLAIM_MS = 2000;
/** How long one Members watch waits at the name service for news (it answers sooner on a change). */
const WATCH_WAIT_MS = 20_000;
/** Without a watch (a process with no service of its own), how long a group's members are trusted. */
const UNWATCHED_MS = 1000;
/** Groups one registry client watches; members of more are asked for, and trusted UNWATCHED_MS. */
const MAX_WATCHED = 256;

/** A group's members as this client knows them. */
interface Known {
  members: readonly ServiceInfo[];
  version: string;
  /** Trusted: while the watch answers, or for UNWATCHED_MS after the answer (no watch). */
  trusted: boolean;
  /** Kept current by a watch. */
  watched: boolean;
}

export class NameServiceRegistry implements Registry {
  readonly where: string;
  private readonly link: NameServiceLink;
  /** The name service has answered: if it stops answering, it is probably restarting. */
  private answered = false;
  private readonly groups = new Map<string, Known>();
  private watched = 0;

  constructor(readonly addr: NetAddr, private readonly host: RegistryHost, private readonly self: Registrant | null) {
    this.where = `the name service at ${formatAddr(addr)}`;
    this.link = host.nameService(addr, self);
  }

  /** Ask the name service. Unreachable, it fails "unavailable": at once if it never answered,
   * else as RegistryAwayError, which look-ups try again. */
  private *ask<T>(func: string, args: unknown, timeoutMs: number): Generator<Instruction, T, unknown> {
    const [ret, err] = yield* this.link.call(func, args, timeoutMs);
    if (err === null) {
      this.answered = true;
      return ret as T;
    }
    // Connected but silent past the deadline: a timeout, as for any call. Refused or dropped: away.
    if (err.code !== "disconnected" && err.code !== "unavailable") throw err;
    const message = `${this.where} did not answer: ${err.message}`;
    throw this.answered ? new RegistryAwayError(message) : new RPCError("unavailable", message);
  }

  lookup(name: string, timeoutMs: number, now = false) {
    return this.ask<ServiceInfo | null>("GetInfo", now ? { name, now } : { name }, timeoutMs);
  }

  providers(func: string, timeoutMs: number) {
    return this.ask<string[]>("GetRemoteFunc", { func }, timeoutMs);
  }

  cachedMembers(group: string): readonly ServiceInfo[] | undefined {
    const known = this.groups.get(group);
    return known?.trusted === true ? known.members : undefined;
  }

  unreachable(group: string): void {
    const known = this.groups.get(group);
    // A watched group hears of every change; an answer merely trusted for a while may be stale.
    if (known !== undefined && !known.watched) known.trusted = false;
  }

  *members(group: string, timeoutMs: number): Generator<Instruction, readonly ServiceInfo[], unknown> {
    const hit = this.cachedMembers(group);
    if (hit !== undefined) return hit;
    const answer = membersAnswer(yield* this.ask<unknown>("Members", { group }, timeoutMs), this.where);
    const watch = this.self !== null && this.host.hasServices() && !this.groups.has(group) && this.watched < MAX_WATCHED;
    const known: Known = { ...answer, trusted: true, watched: watch };
    this.groups.set(group, known);
    if (watch) this.watch(group, this.self!);
    else setTimeout(() => (known.trusted = false), UNWATCHED_MS).unref(); // a timer, not a clock read per call
    return answer.members;
  }

  /**
   * Keep `group`'s members current for the life of `self` by long poll: Members({ known })
   * answers when they change. While the name service cannot answer, the group is not trusted
   * (look-ups ask again, and fail as look-ups do); the watch tries again every second.
   */
  private watch(group: string, self: Registrant): void {
    this.watched++;
    const registry = this;
    self.spawn(`watching group ${group}`, function* () {
      try {
        for (;;) {
          const known = registry.groups.get(group);
          const [ret, err] = yield* registry.link.call("Members", { group, known: known?.version ?? null, wait: WATCH_WAIT_MS }, WATCH_WAIT_MS + self.rpcTimeout);
          let answer: { members: readonly ServiceInfo[]; version: string } | null = null;
          try {
            if (err === null) answer = membersAnswer(ret, registry.where);
          } catch (error) {
            self.log.warn(String((error as Error).message));
          }
          if (answer === null) {
            if (known !== undefined) known.trusted = false;
            yield* Sleep(1000);
            continue;
          }
          registry.groups.set(group, { ...answer, trusted: true, watched: true });
        }
      } finally {
        registry.watched--;
        registry.groups.delete(group);
      }
    });
  }

  /** Page by page, so the answer fits a frame however many services there are. */
  *list(timeoutMs: number): Generator<Instruction, ServiceInfo[], unknown> {
    const all: ServiceInfo[] = [];
    for (let after = ""; ;) {
      const page = yield* this.ask<ServiceInfo[]>("List", { after, limit: LIST_PAGE }, timeoutMs);
      if (!Array.isArray(page) || page.length > LIST_PAGE) return page; // it does not page: that is all
      all.push(...page);
      const last = page.at(-1)?.name;
      // A short page is the last; a page that does not move on (a buggy name service) ends it too.
      if (page.length < LIST_PAGE || typeof last !== "string" || last <= after) return all;
      after = last;
    }
  }

  register(self: Registrant, onFirst: (error: LuanetError | null) => void): Registration {
    let task: Task | null = null;
    let republish = false;
    const wake = () => task !== null && WakeUp(task);
    const link = this.link;
    const claimer: Claimer = {
      registeredWhere: `with ${this.where}`,
      lostWhere: `at ${this.where}`,
      retryMaxMs: MAX_RETRY_MS,
      reclaimMs: RECLAIM_MS,
      *claim(info) {
        republish = false;
        const [, err] = yield* link.call("Register", { ...info, token: self.token }, self.rpcTimeout);
        if (err === null) return null;
        if (err.code === "name_taken" || err.code === "bad_request") return err;
        throw err;
      },
      // The heartbeat keeps the registration; the connection dropping, or a new function, ends the hold.
      *hold() {
        const registeredOn = link.connection();
        while (!republish && registeredOn !== null && link.connection() === registeredOn) {
          link.heartbeat();
          yield* Block(HEARTBEAT_MS);
        }
      },
    };
    const registered = (error: LuanetError | null) => {
      if (error === null) this.answered = true;
      onFirst(error);
    };
    task = self.spawn("registrar", () => keepRegistered(self, claimer, registered));
    link.onLost(wake); // re-register at once rather than at the next heartbeat
    const where = this.where;
    return {
      republish() {
        republish = true;
        wake();
      },
      leave(timeoutMs) {
        // Halted first: no claim follows the Unregister (a Register already sent goes before it, on
        // the same connection, so it is undone too).
        if (task !== null) halt(task);
        return inTask((name, body) => self.spawn(name, body), `leaving ${where}`, function* () {
          const [, err] = yield* link.call("Unregister", null, timeoutMs);
          if (err !== null && err.code === "no_such_function") {
            // An older name service: the registration lives as long as its connection.
            link.close(`${self.name} left ${where}`);
          } else if (err !== null) throw err;
        }, () => new RPCError("shutting_down", `${self.name} stopped before it had left ${where}`));
      },
    };
  }
}

/** A Members answer, checked: it comes from another process. */
function membersAnswer(ret: unknown, where: string): { members: readonly ServiceInfo[]; version: string } {
  const answer = ret as { version?: unknown; members?: unknown } | null;
  if (typeof answer !== "object" || answer === null || typeof answer.version !== "string" || !Array.isArray(answer.members)) {
    throw new RPCError("unavailable", `${where} gave no group members (is it older than luanet groups?): ${describe(ret)}`);
  }
  const members: ServiceInfo[] = [];
  for (const info of answer.members) if (badRegistration(info) === null) members.push(publicInfo(info as ServiceInfo));
  return { members, version: answer.version };
}
