// `npm run demo`: the seed's example end to end. Starts a name service (on a free port), the
// PlusServer and the PlusClient as separate processes, lets the client print its calls per
// second for a few seconds, then stops everything. Run it: luanet samples/plus/demo.ts [seconds]
import type {} from "luanet/globals";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const luanetBin = fileURLToPath(new URL("../../bin/luanet.js", import.meta.url));
const sample = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const children: ChildProcess[] = [];

/** Start `luanet args...`; resolves with the first match of `pattern` in what it prints. */
function start(args: string[], pattern: RegExp, env: Record<string, string> = {}, echo = false) {
  const child = spawn(process.execPath, [luanetBin, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return Sche.Await(new Promise<RegExpExecArray>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`luanet ${args.join(" ")} did not print ${pattern} within 15 s:\n${out}`)), 15_000);
    const seen = (data: Buffer) => {
      out += data;
      if (echo) process.stdout.write(data);
      const m = pattern.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.on("exit", (code) => code !== 0 && code !== null && reject(new Error(`luanet ${args.join(" ")} exited with ${code}:\n${out}`)));
  }));
}

export default function* (seconds = "5") {
  try {
    const [, ns] = yield* start(["nameservice", "--listen", "127.0.0.1:0"], /nameservice listening on (\S+)/);
    console.log(`name service on ${ns}`);
    const env = { LUANET_NS: ns!, PLUS_ADDR: "127.0.0.1:0" };
    yield* start([sample("server.ts")], /registered with the name service/, env);
    console.log(`PlusServer registered; the client runs for ${seconds} s with 100 tasks:`);
    yield* start([sample("client.ts"), seconds], /\d+ calls, 0 failed/, { ...env, LUANET_LOG_LEVEL: "warn" }, true);
  } finally {
    for (const child of children) child.kill();
  }
}
