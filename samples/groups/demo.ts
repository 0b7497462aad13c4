// The groups sample end to end, on a machine with nothing else running: starts a name service
// (on a free port), three rooms, and client.ts, prints what the client prints, then stops
// everything.
//   luanet samples/groups/demo.ts              the rooms in one process (lobby.ts, NewService)
//   luanet samples/groups/demo.ts processes    each room in a process of its own (room.ts)
import type {} from "luanet/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const luanetBin = fileURLToPath(new URL("../../bin/luanet.js", import.meta.url));
const sample = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const children: ChildProcess[] = [];

/**
 * Start `luanet args...`; resolves with the first match of `pattern` in what it prints (`echo`:
 * and passes its stdout on), or, with pattern null, with its exit code once it exits.
 */
function start(args: string[], pattern: RegExp | null, env: Record<string, string> = {}, echo = false) {
  const child = spawn(process.execPath, [luanetBin, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return Sche.Await(new Promise<RegExpExecArray | number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`luanet ${args.join(" ")} did not ${pattern === null ? "finish" : `print ${pattern}`} within 20 s:\n${out}`)), 20_000);
    const seen = (data: Buffer) => {
      out += data;
      const m = pattern?.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout!.on("data", (data: Buffer) => (echo && process.stdout.write(data), seen(data)));
    child.stderr!.on("data", seen);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (pattern === null) resolve(code ?? 1);
      else reject(new Error(`luanet ${args.join(" ")} exited with ${code}:\n${out}`));
    });
  }));
}

export default function* (mode = "lobby") {
  if (mode !== "lobby" && mode !== "processes") throw new TypeError(`usage: luanet samples/groups/demo.ts [lobby|processes], got ${JSON.stringify(mode)}`);
  try {
    const [, ns] = (yield* start(["nameservice", "--listen", "127.0.0.1:0"], /nameservice listening on (\S+)/)) as RegExpExecArray;
    const env = { LUANET_NS: ns!, LUANET_LOG_LEVEL: "warn" };
    if (mode === "lobby") {
      yield* start([sample("lobby.ts")], /lobby: .* are up/, env);
      console.log(`name service on ${ns}; Room1, Room2 and Room3 run in one process (lobby.ts)`);
    } else {
      for (const room of ["Room1", "Room2", "Room3"]) yield* start([sample("room.ts"), room], new RegExp(`${room} joined the group Room`), env);
      console.log(`name service on ${ns}; Room1, Room2 and Room3 run in a process each (room.ts)`);
    }
    const code = yield* start([sample("client.ts")], null, env, true);
    if (code !== 0) throw new Error(`client.ts exited with ${code}`);
  } finally {
    for (const child of children) child.kill();
  }
}
