/**
 * What this process publishes about its own service, whichever registry holds it (the name
 * service's Register adds the secret token, `local.token`).
 * @internal
 */
import { hostname } from "node:os";
import { local } from "../service/local.js";
import type { ServiceInfo } from "./types.js";

export function selfInfo(funcs: string[]): ServiceInfo {
  return {
    name: local.name!, type: local.type, addr: local.addr!, pid: process.pid, host: hostname(),
    funcs, started: local.started,
  };
}
