/**
 * The globals a luanet script sees. Opt in with
 *   /// <reference types="luanet/globals" />
 * at the top of a script, or `"types": ["node", "luanet/globals"]` in its tsconfig.json.
 */
import type { Luanet } from "./dist/runtime/luanet.js";
import type { Scheduler } from "./dist/runtime/scheduler/index.js";
import type * as net from "./dist/stdlib/net.js";

declare global {
  /** The runtime: services, RPC, messages, logging. */
  var luanet: Luanet;
  /** The scheduler: Spawn, Sleep, Yield, Block, WakeUp, Running, Await. */
  var Sche: Scheduler;
  var SOCK_STREAM: typeof net.SOCK_STREAM;
  var SOCK_DGRAM: typeof net.SOCK_DGRAM;
  var AF_INET: typeof net.AF_INET;
  var AF_INET6: typeof net.AF_INET6;
  var AF_LOCAL: typeof net.AF_LOCAL;
}

export {};
