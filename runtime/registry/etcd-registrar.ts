/**
 * The task that keeps this process's service registered in etcd.
 *
 *   1. Grant a lease of LUANET_ETCD_TTL seconds (default 3); etcd3 keeps it alive, a keep-alive
 *      every third of it.
 *   2. Claim the name in one transaction: create <prefix>/services/<name>, with the function
 *      index and group keys, all on the lease, only if the key is absent (the group keys of
 *      groups it left are deleted in the same transaction). A name that is a group's (it has
 *      member keys) is refused with `name_taken`, as is joining a group named like a service:
 *      both are read before the transaction, so two processes racing, one to register a name and
 *      one to join a group of that name, can both succeed; JoinGroup checks the name once more. Two processes can never both own
 *      a name. If the key exists and is the one this process created (its create_revision is the
 *      one our create got), take it over onto the current lease, whatever it holds now; if it is
 *      another process's, the claim is refused with `name_taken`, naming the holder.
 *   3. Hold, until the lease is lost (etcd unreachable for 2 TTL, or the lease expired), the
 *      function list grows, the key is deleted or changed by anyone else (the watch shows a value
 *      or a lease that is not the one we wrote), or a lease time passes (a check that needs no
 *      watch); then go back to 1 (lease lost) or 2.
 *
 * Ownership is the key's create_revision, known only to the process whose create made it: the
 * value holds nothing secret, and a copy of it proves nothing. So a key rewritten behind the
 * holder's back (by a stray writer, even with a copy of the holder's value) is written back
 * within a lease time; a key deleted is created again. A name can change hands only when its key
 * is gone: after the holder's lease ended, or its key was deleted and someone else created it
 * first; then the claim is refused, and retried every lease time until that key is gone.
 *
 * The retry loop is registrar.ts's: while etcd cannot be reached it retries with backoff (100 ms
 * doubling to 2 s), logging once; a refusal on the first claim ends the registrar (Register2Name
 * fails). When the service stops, or leaves (a drain: `leave`), the lease is revoked, so the
 * registration disappears at once.
 * @internal
 */
import type { Lease } from "etcd3";
import { formatAddr } from "../../stdlib/net.js";
import { LuanetError, RPCError } from "../errors.js";
import { hostName, pidAlive } from "../host.js";
import { Block, WakeUp } from "../scheduler/block.js";
import { halt } from "../scheduler/halt.js";
import type { Instruction } from "../scheduler/instruction.js";
import { awaitPromise } from "../scheduler/promise.js";
import type { Task } from "../scheduler/task.js";
import { bounded, keys, leaseSeconds, parseInfo, type Client } from "./etcd-client.js";
import type { EtcdRegistry } from "./etcd.js";
import { keepRegistered, type Claimer } from "./registrar.js";
import { nameIsGroup, nameTaken, type Registrant, type Registration, type ServiceInfo } from "./types.js";

export class EtcdRegistrar implements Registration, Claimer {
  private readonly task: Task;
  /** Set when something needs the registration re-checked; cleared by each claim. */
  private dirty = false;
  private lease: Lease | null = null;
  private leaseLost = false;
  /** The loss of the lease was logged: say so when registered again. */
  eventful = false;
  private readonly mine: Mine = { created: null, value: null, lease: null, groups: [] };
  private readonly ttl = leaseSeconds();
  readonly registeredWhere: string;
  readonly lostWhere: string;
  readonly retryMaxMs = 2000;
  readonly reclaimMs = this.ttl * 1000;
  /** Called once the registrar has ended and revoked its lease (or failed to: `revokeError`). */
  private ended: () => void = () => {};
  private readonly gone = new Promise<void>((resolve) => (this.ended = resolve));
  private revokeError: unknown = null;

  constructor(private readonly registry: EtcdRegistry, private readonly self: Registrant, onFirst: (error: LuanetError | null) => void) {
    this.registeredWhere = this.lostWhere = `in ${registry.where}`;
    const registrar = this;
    this.task = self.spawn("etcd registrar", function* () {
      try {
        yield* keepRegistered(self, registrar, onFirst);
      } finally {
        registry.forget(self.name, registrar);
        const lease = registrar.lease;
        registrar.lease = null;
        // Leaving: drop the registration now rather than when the lease runs out.
        if (lease !== null) yield* awaitPromise(bounded(registry.client, registry.spec, "revoking the lease", () => lease.revoke()).catch((error: unknown) => void (registrar.revokeError = error)));
        registrar.ended();
      }
    });
  }

  /** Leave (a drain): end the registrar, whose lease is revoked on the way out; resolves once etcd
   * has confirmed the revoke (every key of the registration is gone with it). */
  leave(timeoutMs: number): Promise<void> {
    halt(this.task);
    const what = `${this.self.name} leaving ${this.registry.where}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RPCError("timeout", `${what}: no confirmation within ${timeoutMs} ms (its lease runs out within ${this.ttl} s anyway)`)), timeoutMs);
      void this.gone.then(() => {
        clearTimeout(timer);
        const error = this.revokeError;
        if (error === null) resolve();
        else reject(new RPCError("unavailable", `${what}: revoking its lease failed: ${(error as Error)?.message ?? String(error)}`));
      });
    });
  }

  /** Re-publish (the function list grew). */
  republish(): void {
    this.dirty = true;
    WakeUp(this.task);
  }

  /** The watch saw our key put (`value`, on `lease`) or deleted (null): if it is not what we
   * wrote, claim it back. */
  changed(value: string | null, lease: string): void {
    if (value !== this.mine.value || lease !== this.mine.lease) this.republish();
  }

  *claim(info: ServiceInfo): Generator<Instruction, LuanetError | null, unknown> {
    this.dirty = false;
    const spec = this.registry.spec;
    this.registry.startWatch();
    const c = yield* awaitPromise(this.registry.client);
    const lease = yield* this.currentLease(c);
    const claimed = yield* awaitPromise(bounded(this.registry.client, spec, `registering ${this.self.name}`, (c) => claim(c, lease, info, this.mine, this.registry.warned)));
    if ("refused" in claimed) return claimed.refused;
    if (claimed.holder !== null) return nameTaken(claimed.holder);
    if (claimed.stale !== undefined) this.self.log.info(`${this.self.name} took its name over from pid ${claimed.stale.pid} of this host, which no longer runs`);
    if (claimed.replaced !== null) this.self.log.warn(`${this.self.name}'s key in etcd was changed by another writer (${claimed.replaced}); claimed it back`);
    return null;
  }

  *hold(): Generator<Instruction, void, unknown> {
    this.eventful = false;
    while (!this.dirty && !this.leaseLost) {
      if (!(yield* Block(this.ttl * 1000))) this.dirty = true; // a lease time without news: check anyway
    }
  }

  /** The lease to register on: the current one, or a newly granted one if it was lost. */
  private *currentLease(c: Client): Generator<Instruction, Lease, unknown> {
    const ttl = this.ttl;
    if (this.lease !== null && !this.leaseLost) return this.lease;
    if (this.lease !== null && !this.eventful) {
      this.self.log.warn(`${this.self.name} lost its etcd lease (no keep-alive for ${2 * ttl} s, or it expired); registering again`);
      this.eventful = true;
    }
    this.lease?.release();
    const lease = c.kv.lease(ttl, { autoKeepAlive: true });
    lease.on("lost", () => {
      if (this.lease !== lease) return;
      this.leaseLost = true;
      WakeUp(this.task);
    });
    try {
      yield* awaitPromise(bounded(this.registry.client, this.registry.spec, "granting a lease", () => lease.grant()));
    } catch (error) {
      lease.release();
      throw error;
    }
    this.lease = lease;
    this.leaseLost = false;
    return lease;
  }
}

/** What this process wrote to its key last: how it tells its own key, and changes to it. */
interface Mine {
  /** The key's create_revision when this process created it (or took over a non-luanet value). */
  created: string | null;
  value: string | null;
  /** The lease ID it put the key on. */
  lease: string | null;
  /** The groups whose member keys it wrote. */
  groups: string[];
}

/** The name is ours now (`replaced` says what we overwrote that was not ours), or `holder`'s,
 * or refused for another reason (a group's name). */
type Claimed = { holder: null; replaced: string | null; stale?: ServiceInfo } | { holder: ServiceInfo } | { refused: LuanetError };

/**
 * A registration left by a process of this host that no longer runs (killed with -9: its lease
 * lasts a few seconds more). Its restart, by `luanet up` or by hand, may take the name at once
 * instead of being refused until the lease ends. Only this host can tell: the PID is checked here.
 */
function isDeadHere(found: ServiceInfo): boolean {
  return found.host === hostName() && found.pid !== process.pid && !pidAlive(found.pid);
}

/** Claim `info.name` on `lease`, with its function index (see the top of this file). */
async function claim(c: Client, lease: Lease, info: ServiceInfo, mine: Mine, warned: Set<string>): Promise<Claimed> {
  const key = keys.service(info.name);
  const value = JSON.stringify(info);
  const leaseId = await lease.grant(); // granted already: this is its ID
  const left = mine.groups.filter((g) => !info.groups.includes(g));
  const puts = () => [
    lease.put(key).value(value),
    ...info.funcs.map((f) => lease.put(keys.func(f, info.name)).value(info.name)),
    ...info.groups.map((g) => lease.put(keys.member(g, info.name)).value(info.name)),
    ...left.map((g) => c.kv.delete().key(keys.member(g, info.name))),
  ];
  const done = (created: string, replaced: string | null, stale?: ServiceInfo): Claimed => {
    Object.assign(mine, { created, value, lease: leaseId, groups: [...info.groups] });
    return stale === undefined ? { holder: null, replaced } : { holder: null, replaced, stale };
  };
  if (mine.created === null && (await c.kv.getAll().prefix(keys.group(info.name)).limit(1).keys()).length > 0) return { refused: nameIsGroup(info.name) };
  for (const group of info.groups.filter((g) => !mine.groups.includes(g))) {
    const text = await c.kv.get(keys.service(group)).string();
    const service = text === null ? null : parseInfo(text, group, warned);
    if (service !== null) return { refused: new LuanetError("name_taken", `${info.name} cannot join the group "${group}": ${nameTaken(service).message}; a service and a group cannot share a name`) };
  }
  if (mine.created !== null) {
    // Most claims are checks that find the key as we left it: a read, not a transaction.
    const now = (await c.kv.get(key).exec()).kvs[0];
    if (now?.create_revision === mine.created && now.value.toString() === value && now.lease === leaseId) return { holder: null, replaced: null };
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const created = await c.kv.if(key, "Create", "==", 0).then(...puts()).else(c.kv.get(key)).commit();
    if (created.succeeded) return done(created.header.revision, null);
    const kv = created.responses[0]?.response_range?.kvs[0];
    if (kv === undefined) continue; // deleted in between: try again
    const text = kv.value.toString();
    const ours = kv.create_revision === mine.created;
    const found = parseInfo(text, info.name, warned);
    const stale = !ours && found !== null && isDeadHere(found);
    if (!ours && found !== null && !stale) return { holder: found };
    // Ours (rewritten since, or on an older lease of ours), or not a luanet value at all: take it
    // over, unless it changed in between.
    const taken = await c.kv.if(key, "Mod", "==", kv.mod_revision).then(...puts()).commit();
    if (!taken.succeeded) continue;
    if (stale) return done(kv.create_revision, null, found!);
    const foreign = !ours || text !== mine.value || kv.lease !== mine.lease;
    return done(kv.create_revision, foreign ? describeValue(found, kv.lease) : null);
  }
  throw new RPCError("unavailable", `the etcd key of ${info.name} kept changing while it was being claimed`);
}

function describeValue(found: ServiceInfo | null, lease: string): string {
  const what = found === null ? "a value that is not a luanet registration" : `a registration of pid ${found.pid} on ${found.host} at ${formatAddr(found.addr)}`;
  return `${what}, ${lease === "0" ? "on no lease" : `on lease ${lease}`}`;
}
