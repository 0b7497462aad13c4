/**
 * The task that keeps this process's service registered in etcd.
 *
 *   1. Grant a lease of LUANET_ETCD_TTL seconds (default 3); etcd3 keeps it alive, a keep-alive
 *      every third of it.
 *   2. Claim the name in one transaction: create <prefix>/services/<name>, with the function
 *      index keys, all on the lease, only if the key is absent. Two processes can never both own
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
 * While etcd cannot be reached it retries with backoff (100 ms doubling to 2 s), logging once.
 * A refusal on the first claim ends the registrar (Register2Name fails). At shutdown the lease
 * is revoked, so the registration disappears at once.
 * @internal
 */
import type { Lease } from "etcd3";
import { formatAddr } from "../../stdlib/net.js";
import { LuanetError, RPCError } from "../errors.js";
import { log } from "../log.js";
import { Block, WakeUp } from "../scheduler/block.js";
import type { Instruction } from "../scheduler/instruction.js";
import { awaitPromise } from "../scheduler/loop.js";
import { Sleep } from "../scheduler/sleep.js";
import { spawnNamed } from "../scheduler/spawn.js";
import type { Task } from "../scheduler/task.js";
import { local } from "../service/local.js";
import { bounded, client, keys, leaseSeconds, parseInfo, type Client } from "./etcd-client.js";
import type { EtcdRegistry } from "./etcd.js";
import { CheckedSelf } from "./self.js";
import { nameTaken, type ServiceInfo } from "./types.js";

export class EtcdRegistrar {
  private readonly task: Task;
  /** Set when something needs the registration re-checked; cleared by each claim. */
  private dirty = false;
  private lease: Lease | null = null;
  private leaseLost = false;
  /** The loss of the lease was logged: say so when registered again. */
  private leaseLostLogged = false;
  private readonly mine: Mine = { created: null, value: null, lease: null };

  constructor(private readonly registry: EtcdRegistry, funcs: () => string[], onFirst: (error: LuanetError | null) => void) {
    this.task = spawnNamed("etcd registrar", () => this.run(funcs, onFirst));
  }

  /** Re-publish (the function list grew). */
  poke(): void {
    this.dirty = true;
    WakeUp(this.task);
  }

  /** The watch saw `name`'s key put (`value`, on `lease`) or deleted (null): if it is ours and
   * not what we wrote, claim it back. */
  changed(name: string, value: string | null, lease: string): void {
    if (name === local.name && (value !== this.mine.value || lease !== this.mine.lease)) this.poke();
  }

  private *run(funcs: () => string[], onFirst: (error: LuanetError | null) => void): Generator<Instruction, void, unknown> {
    const spec = this.registry.spec;
    const ttl = leaseSeconds();
    let first = true;
    let complained = false;
    let refused = false;
    let delay = 100;
    const self = new CheckedSelf();
    try {
      for (;;) {
        this.dirty = false;
        const info = self.next(funcs());
        if (info instanceof LuanetError) return onFirst(info);
        let claimed: Claimed;
        try {
          this.registry.startWatch();
          const c = yield* awaitPromise(client(spec));
          const lease = yield* this.currentLease(c, ttl);
          claimed = yield* awaitPromise(bounded(spec, `registering ${local.name}`, (c) => claim(c, lease, info, this.mine)));
        } catch (error) {
          if (!(error instanceof RPCError)) throw error;
          if (!complained) log.warn(`cannot register ${local.name} in ${this.registry.where} (${error.message}); retrying until it answers`);
          complained = true;
          yield* Sleep(delay);
          delay = Math.min(delay * 2, 2000);
          continue;
        }
        if (claimed.holder !== null) {
          const error = nameTaken(claimed.holder);
          if (first) return onFirst(error);
          if (!refused) log.error(`${local.name} lost its name in etcd: ${error.message}; trying again every ${ttl} s`);
          refused = true;
          yield* Block(ttl * 1000);
          continue;
        }
        if (claimed.replaced !== null) log.warn(`${local.name}'s key in etcd was changed by another writer (${claimed.replaced}); claimed it back`);
        if (first || complained || refused || this.leaseLostLogged) {
          log.info(`${local.name} registered in ${this.registry.where}${first ? "" : " again"} (lease ${ttl} s)`);
        }
        if (first) onFirst(null);
        first = complained = refused = this.leaseLostLogged = false;
        delay = 100;
        while (!this.dirty && !this.leaseLost) {
          if (!(yield* Block(ttl * 1000))) this.dirty = true; // a lease time without news: check anyway
        }
      }
    } finally {
      const lease = this.lease;
      this.lease = null;
      // Leaving: drop the registration now rather than when the lease runs out.
      if (lease !== null) yield* awaitPromise(bounded(spec, "revoking the lease", () => lease.revoke()).catch(() => {}));
    }
  }

  /** The lease to register on: the current one, or a newly granted one if it was lost. */
  private *currentLease(c: Client, ttl: number): Generator<Instruction, Lease, unknown> {
    if (this.lease !== null && !this.leaseLost) return this.lease;
    if (this.lease !== null && !this.leaseLostLogged) {
      log.warn(`${local.name} lost its etcd lease (no keep-alive for ${2 * ttl} s, or it expired); registering again`);
      this.leaseLostLogged = true;
    }
    this.lease?.release();
    const lease = c.kv.lease(ttl, { autoKeepAlive: true });
    lease.on("lost", () => {
      if (this.lease !== lease) return;
      this.leaseLost = true;
      WakeUp(this.task);
    });
    try {
      yield* awaitPromise(bounded(this.registry.spec, "granting a lease", () => lease.grant()));
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
}

/** The name is ours now (`replaced` says what we overwrote that was not ours), or `holder`'s. */
type Claimed = { holder: null; replaced: string | null } | { holder: ServiceInfo };

/** Claim `info.name` on `lease`, with its function index (see the top of this file). */
async function claim(c: Client, lease: Lease, info: ServiceInfo, mine: Mine): Promise<Claimed> {
  const key = keys.service(info.name);
  const value = JSON.stringify(info);
  const leaseId = await lease.grant(); // granted already: this is its ID
  const puts = () => [lease.put(key).value(value), ...info.funcs.map((f) => lease.put(keys.func(f, info.name)).value(info.name))];
  if (mine.created !== null) {
    // Most claims are checks that find the key as we left it: a read, not a transaction.
    const now = (await c.kv.get(key).exec()).kvs[0];
    if (now?.create_revision === mine.created && now.value.toString() === value && now.lease === leaseId) return { holder: null, replaced: null };
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const created = await c.kv.if(key, "Create", "==", 0).then(...puts()).else(c.kv.get(key)).commit();
    if (created.succeeded) {
      Object.assign(mine, { created: created.header.revision, value, lease: leaseId });
      return { holder: null, replaced: null };
    }
    const kv = created.responses[0]?.response_range?.kvs[0];
    if (kv === undefined) continue; // deleted in between: try again
    const text = kv.value.toString();
    const ours = kv.create_revision === mine.created;
    const found = parseInfo(text, info.name);
    if (!ours && found !== null) return { holder: found };
    // Ours (rewritten since, or on an older lease of ours), or not a luanet value at all: take it
    // over, unless it changed in between.
    const taken = await c.kv.if(key, "Mod", "==", kv.mod_revision).then(...puts()).commit();
    if (!taken.succeeded) continue;
    const foreign = !ours || text !== mine.value || kv.lease !== mine.lease;
    Object.assign(mine, { created: kv.create_revision, value, lease: leaseId });
    return { holder: null, replaced: foreign ? describeValue(found, kv.lease) : null };
  }
  throw new RPCError("unavailable", `the etcd key of ${info.name} kept changing while it was being claimed`);
}

function describeValue(found: ServiceInfo | null, lease: string): string {
  const what = found === null ? "a value that is not a luanet registration" : `a registration of pid ${found.pid} on ${found.host} at ${formatAddr(found.addr)}`;
  return `${what}, ${lease === "0" ? "on no lease" : `on lease ${lease}`}`;
}
