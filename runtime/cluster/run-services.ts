/**
 * `luanet run-services`: the process `luanet up` starts for cluster file entries that share a
 * `process`. It runs no script of its own: it starts each service of LUANET_PROCESS_SERVICES
 * (JSON `[{ script, args, instance }]`) with NewService, in order, and says it is ready once all
 * have started. A service that fails, then or later, ends the process (exit 1), so the
 * supervisor restarts the whole process rather than leave part of it down.
 * @internal
 */
import { announceReady } from "./ready.js";
import { runtime } from "../process.js";
import type { Instruction } from "../scheduler/instruction.js";
import { awaitPromise } from "../scheduler/promise.js";
import { checkInstance } from "../service/instance.js";

export function* runServices(env: NodeJS.ProcessEnv = process.env): Generator<Instruction, void, unknown> {
  let list: unknown;
  try {
    list = JSON.parse(env.LUANET_PROCESS_SERVICES ?? "");
  } catch {
    throw new TypeError("luanet run-services is started by luanet up, with LUANET_PROCESS_SERVICES set to JSON [{ script, args, instance }]");
  }
  if (!Array.isArray(list)) throw new TypeError("LUANET_PROCESS_SERVICES must be a JSON array");
  runtime.failFast = true;
  const names: string[] = [];
  for (const [i, entry] of list.entries()) {
    const { script, args, instance } = entry as { script?: unknown; args?: unknown; instance?: unknown };
    if (typeof script !== "string" || !Array.isArray(args) || args.some((a) => typeof a !== "string")) throw new TypeError(`LUANET_PROCESS_SERVICES[${i}] must be { script, args: string[], instance }`);
    const name = yield* awaitPromise(runtime.newService(runtime.root, script, args as string[], checkInstance(instance, `LUANET_PROCESS_SERVICES[${i}].instance`)));
    if (name !== null) names.push(name);
  }
  announceReady(names);
}
