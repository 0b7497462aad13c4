/**
 * The seed's Plus scenario over TCP on loopback, against the reference (bench/rpc-reference.ts),
 * with 1 and with 100 calling tasks. Every process is started here and killed by PID.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const luanet = here("../bin/luanet.js");
const children: ChildProcess[] = [];
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

export type Figures = { rate: number; p50: number; p99: number };

/** Start a process and resolve with the first match of `pattern` in its output. */
export function startAndWait(args: string[], pattern: RegExp, env: NodeJS.ProcessEnv = {}): Promise<RegExpExecArray> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")}: timed out waiting for ${pattern}: ${out}`)), 20_000);
    const check = (d: Buffer) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
  });
}

/** Run node with `args` to the end (at most 60 s) and parse the JSON its last line prints. */
export function run<T = Figures>(args: string[], env: NodeJS.ProcessEnv = {}): T {
  const r = spawnSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

/** The median of some measurements (the upper one of an even count). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Start a name service and a PlusServer; returns the env a client needs. */
export async function plusCluster(extraEnv: NodeJS.ProcessEnv = {}, serverArgs: string[] = []): Promise<NodeJS.ProcessEnv> {
  const [, port] = await startAndWait([luanet, "nameservice", "--listen", "127.0.0.1:0"], /nameservice listening on 127\.0\.0\.1:(\d+)/, extraEnv);
  const env = { LUANET_NS: `127.0.0.1:${port}`, PLUS_ADDR: "127.0.0.1:0", LUANET_LOG_LEVEL: "warn", ...extraEnv };
  await startAndWait([luanet, ...serverArgs, here("../samples/plus/server.ts")], /registered with the name service/, { ...env, LUANET_LOG_LEVEL: "info" });
  return env;
}

export function luanetPlus(env: NodeJS.ProcessEnv, callers: number, seconds: number, options: string[] = [], extra: string[] = []): Figures {
  return run([luanet, ...options, here("plus-client.ts"), String(callers), String(seconds), ...extra], env);
}

export async function referencePlus(callers: number, seconds: number): Promise<Figures> {
  const [, port] = await startAndWait(["--import", "tsx", here("rpc-reference.ts"), "server"], /^(\d+)$/m);
  return run(["--import", "tsx", here("rpc-reference.ts"), "client", port!, String(callers), String(seconds)]);
}

export function stopAll(): void {
  for (const c of children.splice(0)) c.kill("SIGKILL");
}
