/**
 * The task that keeps this process's service registered in etcd.
 *
 *   1. Grant a lease of LUANET_ETCD_TTL seconds (default 3); etcd3 keeps it alive, a keep-alive
 *      every third of it.
 *   2. Claim the name in one transaction: create <prefix>/services/<name>, with the function
 *      index keys, all on the lease, only if the key is absent. Two processes can never both own
 *      a name. If the key exists and is this process's own (an earlier lease of ours still holds
 *      it), take it over onto the current lease; if it is another live process's, the claim is
 *      refused with `name_taken`, naming the holder.
 *   3. Hold, until the lease is lost (etcd unreachable for 2 TTL, or the lease expired), the
 *      function list grows, or the key is deleted or taken from us; then go back to 1 (lease
 *      lost) or 2.
 *
 * While etcd cannot be reached it retries with backoff (100 ms doubling to 2 s), logging once.
 * A refusal on the first claim ends the registrar (Register2Name fails); on a later one (a rival
 * took the name while we were cut off from etcd) it keeps trying every lease time. At shutdown
 * the lease is revoked, so the registration disappears at once.
 * @internal
 */
import type { Lease } from "etcd3";
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
import { selfInfo } from "./self.js";
import { nameTaken, type ServiceInfo } from "./types.js";

export class EtcdRegistrar {
  private readonly task: Task;
  /** Set when something needs the registration re-checked; cleared by each claim. */
  private dirty = false;
  private lease: Lease | null = null;
  private leaseLost = false;
  /** The loss of the lease was logged: say so when registered again. */
  private leaseLostLogged = false;

  constructor(private readonly registry: EtcdRegistry, funcs: () => string[], onFirst: (error: LuanetError | null) => void) {
    this.task = spawnNamed("etcd registrar", () => this.run(funcs, onFirst));
  }

  /** Re-publish (the function list grew). */
  poke(): void {
    this.dirty = true;
    WakeUp(this.task);
  }

  /** The watch saw a registration change: if ours was deleted or taken, claim it again. */
  changed(name: string, info: ServiceInfo | null): void {
    if (name === local.name && info?.instance !== local.instance) this.poke();
  }

  private *run(funcs: () => string[], onFirst: (error: LuanetError | null) => void): Generator<Instruction, void, unknown> {
    const spec = this.registry.spec;
    const ttl = leaseSeconds();
    let first = true;
    let complained = false;
    let refused = false;
    let delay = 100;
    try {
      for (;;) {
        this.dirty = false;
        let holder: ServiceInfo | null;
        try {
          this.registry.startWatch();
          const c = yield* awaitPromise(client(spec));
          const lease = yield* this.currentLease(c, ttl);
          holder = yield* awaitPromise(bounded(spec, `registering ${local.name}`, (c) => claim(c, lease, selfInfo(funcs()))));
        } catch (error) {
          if (!(error instanceof RPCError)) throw error;
          if (!complained) log.warn(`cannot register ${local.name} in ${this.registry.where} (${error.message}); retrying until it answers`);
          complained = true;
          yield* Sleep(delay);
          delay = Math.min(delay * 2, 2000);
          continue;
        }
        if (holder !== null) {
          const error = nameTaken(holder);
          if (first) return onFirst(error);
          if (!refused) log.error(`${local.name} lost its name in etcd: ${error.message}; trying again every ${ttl} s`);
          refused = true;
          yield* Block(ttl * 1000);
          continue;
        }
        if (first || complained || refused || this.leaseLostLogged) {
          log.info(`${local.name} registered in ${this.registry.where}${first ? "" : " again"} (lease ${ttl} s)`);
        }
        if (first) onFirst(null);
        first = complained = refused = this.leaseLostLogged = false;
        delay = 100;
        while (!this.dirty && !this.leaseLost) yield* Block();
        if (this.leaseLost) {
          log.warn(`${local.name} lost its etcd lease (no keep-alive for ${2 * ttl} s, or it expired); registering again`);
          this.leaseLostLogged = true;
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

/**
 * Claim `info.name` on `lease`, with its function index. Null when this process holds it now;
 * otherwise the live registration of the process that holds it.
 */
async function claim(c: Client, lease: Lease, info: ServiceInfo): Promise<ServiceInfo | null> {
  const key = keys.service(info.name);
  const value = JSON.stringify(info);
  const puts = () => [lease.put(key).value(value), ...info.funcs.map((f) => lease.put(keys.func(f, info.name)).value(info.name))];
  for (let attempt = 0; attempt < 5; attempt++) {
    const created = await c.kv.if(key, "Create", "==", 0).then(...puts()).else(c.kv.get(key)).commit();
    if (created.succeeded) return null;
    const kv = created.responses[0]?.response_range?.kvs[0];
    if (kv === undefined) continue; // deleted in between: try again
    const holder = parseInfo(kv.value.toString(), info.name);
    if (holder !== null && holder.instance !== info.instance) return holder;
    // Ours from an earlier lease (or not a luanet value at all): take it over, unless it changed.
    const taken = await c.kv.if(key, "Mod", "==", kv.mod_revision).then(...puts()).commit();
    if (taken.succeeded) return null;
  }
  throw new RPCError("unavailable", `the etcd key of ${info.name} kept changing while it was being claimed`);
}
