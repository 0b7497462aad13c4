/**
 * What this process publishes about its own service, whichever registry holds it (the name
 * service's Register adds the secret token, `local.token`).
 * @internal
 */
import { hostname } from "node:os";
import { LuanetError } from "../errors.js";
import { log } from "../log.js";
import { local } from "../service/local.js";
import type { ServiceInfo } from "./types.js";
import { badRegistration } from "./validate.js";

export function selfInfo(funcs: string[]): ServiceInfo {
  return {
    name: local.name!, type: local.type, addr: local.addr!, pid: process.pid, host: hostname(),
    funcs, started: local.started,
  };
}

/**
 * This process's registration, checked as every reader checks it (validate.ts), for a registrar
 * to publish. Until one has passed, a bad one is the error Register2Name fails with; after (a
 * function registered since made it too big) the last good one is published again, and the
 * problem logged once.
 */
export class CheckedSelf {
  private good: ServiceInfo | null = null;
  private complained = false;

  next(funcs: string[]): ServiceInfo | LuanetError {
    const info = selfInfo(funcs);
    const problem = badRegistration(info);
    if (problem === null) return (this.good = info);
    if (this.good === null) return new LuanetError("bad_request", `cannot register ${local.name}: ${problem}`);
    if (!this.complained) log.error(`${local.name} cannot publish its functions any more (${problem}); its registration keeps the earlier list`);
    this.complained = true;
    return this.good;
  }
}
