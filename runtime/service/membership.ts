/**
 * The groups one service is in (luanet.JoinGroup, LeaveGroup). Membership is part of the
 * service's registration (ServiceInfo.groups), so it lives exactly as long as the registration:
 * a member that dies leaves its groups when the registry drops it. Joining or leaving publishes
 * the registration again and waits until the registry holds the new list.
 * @internal
 */
import { LuanetError, RPCError } from "../errors.js";
import { Block, WakeUp } from "../scheduler/block.js";
import { lookingUp } from "./call.js";
import type { Instruction } from "../scheduler/instruction.js";
import { awaitPromise, inTask } from "../scheduler/promise.js";
import { Running } from "../scheduler/spawn.js";
import type { Task } from "../scheduler/task.js";
import type { Service } from "./service.js";

export class Membership {
  /** The groups it means to be in: what the next registration publishes. */
  readonly groups = new Set<string>();
  /** The groups of the registration the registry holds now. */
  private published = new Set<string>();
  private readonly waiting = new Set<Task>();

  constructor(private readonly service: Service) {}

  /** The registry holds a registration with `groups`. */
  claimed(groups: readonly string[]): void {
    this.published = new Set(groups);
    for (const task of this.waiting) WakeUp(task);
  }

  /** Join `group` once registered: refused (name_taken) if a service has that name. */
  join(group: string): Promise<void> {
    const membership = this;
    return this.inTask(`joining group ${group}`, function* () {
      const service = membership.service;
      const ms = service.config.rpcTimeout;
      const deadline = performance.now() + ms;
      yield* awaitPromise(service.registered()!);
      if (!membership.groups.has(group)) {
        const holder = yield* lookingUp((left) => service.registry.lookup(group, left, true), ms);
        if (holder !== null) throw new LuanetError("name_taken", `${service.name} cannot join the group "${group}": it is the name of the service at pid ${holder.pid} on ${holder.host}; a service and a group cannot share a name`);
        membership.groups.add(group);
        service.republish();
      }
      if (!(yield* membership.until(() => membership.published.has(group), deadline))) {
        membership.groups.delete(group);
        service.republish();
        throw new RPCError("timeout", `${service.registry.where} did not take ${service.name} into the group "${group}" within ${ms} ms`);
      }
    });
  }

  /** Leave `group`: callers stop choosing this service once the registry holds the change. */
  leave(group: string): Promise<void> {
    const membership = this;
    return this.inTask(`leaving group ${group}`, function* () {
      const service = membership.service;
      const ms = service.config.rpcTimeout;
      if (!membership.groups.delete(group)) return;
      service.republish();
      if (!(yield* membership.until(() => !membership.published.has(group), performance.now() + ms))) {
        throw new RPCError("timeout", `${service.registry.where} did not take ${service.name} out of the group "${group}" within ${ms} ms (it is out of it once it does)`);
      }
    });
  }

  /** Wait until `done()` or the deadline; true if done. */
  private *until(done: () => boolean, deadline: number) {
    const me = Running()!;
    this.waiting.add(me);
    try {
      let left: number;
      while (!done() && (left = deadline - performance.now()) > 0) yield* Block(left);
      return done();
    } finally {
      this.waiting.delete(me);
    }
  }

  /** `body` in a task of the service, as a promise (a stop rejects it with shutting_down). */
  private inTask(name: string, body: () => Generator<Instruction, void, unknown>): Promise<void> {
    const service = this.service;
    return inTask((n, b) => service.spawn(n, b), name, body, () => new LuanetError("shutting_down", `${service} stopped before ${name} was done`));
  }
}
