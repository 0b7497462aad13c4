/**
 * `import { Sche } from "luanet/scheduler"`: the scheduler, also the global `Sche`.
 * @example
 * import { Sche } from "luanet/scheduler"
 * Sche.Spawn(function* () { yield* Sche.Sleep(100); console.log("a tenth of a second later") })
 */
export { Sche, Sche as default, Spawn, Sleep, Yield, Block, WakeUp, Running, Await, Task } from "../runtime/scheduler/index.js";
export type { Operation, TaskStatus } from "../runtime/scheduler/index.js";
