/**
 * `import log from "luanet/log"`: the logger, also `luanet.log`. Lines go to the console and,
 * through a writer thread, to `logs/<service>.log` (see the README's Logging section).
 * @example
 * import log from "luanet/log"
 * log.info("player joined", { id: 42 })
 */
export { log, log as default, type Logger, type Level } from "../runtime/log.js";
