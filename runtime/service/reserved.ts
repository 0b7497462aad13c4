/**
 * The functions every service answers besides its own, all named `luanet.*` (RegRPCFunction
 * refuses that prefix): `luanet.reload` (reload.ts), `luanet.stats` and `luanet.tasks`
 * (runtime/stats/), `luanet.features` (features.ts). docs/protocol.md describes their arguments and results, so a client in
 * another language can call them too.
 * @internal
 */
import { describe, LuanetError } from "../errors.js";
import { recordSpawnStacks } from "../scheduler/spawn-stacks.js";
import { snapshot } from "../stats/snapshot.js";
import { DEFAULT_LIMIT, dump, MAX_LIMIT, tasksOf, type TaskDump } from "../stats/tasks.js";
import type { Handler } from "./dispatch.js";
import { FEATURES_FUNCTION, OWN_FEATURES } from "./features.js";
import type { Service } from "./service.js";

export const RESERVED_PREFIX = "luanet.";
export const RELOAD_FUNCTION = "luanet.reload";
export const STATS_FUNCTION = "luanet.stats";
export const TASKS_FUNCTION = "luanet.tasks";

/** How long spawn stacks are recorded after a `luanet.tasks` with `stacks: true` (ms). */
export const STACKS_RECORD_MS = 60_000;

/** What `luanet.tasks` answers: the dump, and who it is of. */
export interface TasksDocument extends TaskDump {
  service: string | null;
  pid: number;
  time: number;
}

/** Arguments: null, or an object with only the keys in `allowed`, of the types given. */
function options(func: string, args: unknown, allowed: Record<string, "boolean" | "number">): Record<string, unknown> {
  if (args === null || args === undefined) return {};
  if (typeof args !== "object" || Array.isArray(args)) throw new LuanetError("bad_request", `${func} takes null or an options object, got ${describe(args)}`);
  for (const [key, value] of Object.entries(args)) {
    const type = allowed[key];
    if (type === undefined) throw new LuanetError("bad_request", `${func}: unknown option ${JSON.stringify(key)} (known: ${Object.keys(allowed).join(", ")})`);
    if (typeof value !== type) throw new LuanetError("bad_request", `${func}: ${key} must be a ${type}, got ${describe(value)}`);
  }
  return args as Record<string, unknown>;
}

/** The reserved functions every service answers; a gate (runtime/gate/) and a session watcher add theirs. */
export function reservedFunctions(service: Service): Map<string, Handler> {
  return new Map<string, Handler>([
    [RELOAD_FUNCTION, () => service.runtime.reload(service)],
    [FEATURES_FUNCTION, () => OWN_FEATURES],
    [STATS_FUNCTION, (args) => {
      const { histogram } = options(STATS_FUNCTION, args, { histogram: "boolean" });
      return snapshot(service, service.runtime.processStats.info(), histogram === true);
    }],
    [TASKS_FUNCTION, (args): TasksDocument => {
      const { limit = DEFAULT_LIMIT, stacks } = options(TASKS_FUNCTION, args, { limit: "number", stacks: "boolean" });
      if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_LIMIT) {
        throw new LuanetError("bad_request", `${TASKS_FUNCTION}: limit must be an integer from 1 to ${MAX_LIMIT}, got ${describe(limit)}`);
      }
      if (stacks === true) recordSpawnStacks(STACKS_RECORD_MS);
      return { service: service.named, pid: process.pid, time: Date.now(), ...dump(tasksOf(service), limit as number, stacks === true) };
    }],
  ]);
}
