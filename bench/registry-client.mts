/**
 * The registry benchmark's client, run by bench/registry.ts against the built-in name service
 * or etcd (LUANET_REGISTRY), printing one JSON line:
 *
 *   luanet registry-client.mts lookups <seconds> <name>     look-ups/s of one name, 50 tasks
 *   luanet registry-client.mts providers <seconds> <func>   GetRemoteFuncProvider/s, 50 tasks
 *   luanet registry-client.mts first-calls <name>...        ms from the first RPCCall to a name
 *                                                          this process never called, to its reply
 *
 * The first of the first calls is the process's first use of the registry ("cold"); the others
 * find the registry's connection open ("warm"). An ES module (.mts), so that it shares the
 * running luanet's modules and can ask its registry directly.
 */
import type {} from "luanet/globals";
import { runtime } from "../dist/runtime/process.js";

const TASKS = 50;

/** Run `op` from TASKS tasks for `seconds`; operations per second. */
function* rate(seconds: number, op: () => Generator<unknown, unknown, unknown>) {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  const tasks = [];
  for (let i = 0; i < TASKS; i++) {
    tasks.push(Sche.Spawn(function* () {
      while (performance.now() < until) {
        yield* op();
        done++;
      }
    }));
  }
  for (const t of tasks) yield* t;
  return done / seconds;
}

export default function* (what: string, ...args: string[]) {
  if (what === "lookups") {
    const name = args[1]!;
    const value = yield* rate(Number(args[0]), function* () {
      const info = yield* runtime.root.registry.lookup(name, 10_000);
      if (info === null) throw new Error(`${name} is not registered`);
    });
    console.log(JSON.stringify({ rate: value }));
  } else if (what === "providers") {
    const func = args[1]!;
    const value = yield* rate(Number(args[0]), function* () {
      const [names, err] = yield* luanet.GetRemoteFuncProvider(func);
      if (err !== null) throw err;
      if (names.length === 0) throw new Error(`nobody provides ${func}`);
    });
    console.log(JSON.stringify({ rate: value }));
  } else if (what === "first-calls") {
    const ms: number[] = [];
    for (const name of args) {
      const t0 = performance.now();
      const [sum, err] = yield* luanet.RPCCall<number>(name, "Plus", { a: 1, b: 2 });
      if (err !== null || sum !== 3) throw new Error(`${name}.Plus failed: ${err?.message ?? sum}`);
      ms.push(performance.now() - t0);
    }
    console.log(JSON.stringify({ cold: ms[0], warm: ms.slice(1) }));
  } else {
    throw new Error(`unknown scenario ${what}`);
  }
  process.exit(0);
}
