/**
 * What a service publishes about itself, checked as every reader checks it (validate.ts), for a
 * registrar to publish. Until one has passed, a bad one is the error Register2Name fails with;
 * after (a function registered since made it too big) the last good one is published again, and
 * the problem logged once.
 * @internal
 */
import { LuanetError } from "../errors.js";
import type { Registrant, ServiceInfo } from "./types.js";
import { badRegistration } from "./validate.js";

export class CheckedSelf {
  private good: ServiceInfo | null = null;
  private complained = false;

  constructor(private readonly self: Registrant) {}

  next(): ServiceInfo | LuanetError {
    const info = this.self.info();
    const problem = badRegistration(info);
    if (problem === null) return (this.good = info);
    if (this.good === null) return new LuanetError("bad_request", `cannot register ${this.self.name}: ${problem}`);
    if (!this.complained) this.self.log.error(`${this.self.name} cannot publish its functions any more (${problem}); its registration keeps the earlier list`);
    this.complained = true;
    return this.good;
  }
}
