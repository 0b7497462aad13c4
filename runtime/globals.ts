/** Installs the globals a script sees (declared for TypeScript in ../globals.d.ts). @internal */
import { AF_INET, AF_INET6, AF_LOCAL, SOCK_DGRAM, SOCK_STREAM } from "../stdlib/net.js";
import { luanet } from "./process.js";
import { Sche } from "./scheduler/index.js";

export function installGlobals(): void {
  Object.assign(globalThis, { luanet, Sche, SOCK_STREAM, SOCK_DGRAM, AF_INET, AF_INET6, AF_LOCAL });
}
