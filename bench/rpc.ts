/**
 * The seed's Plus scenario over TCP on loopback, against the reference (bench/rpc-reference.ts),
 * with 1 and with 100 calling tasks. Every process is started through tools/procs.ts, its output
 * read (so a chatty server never blocks on a full pipe) and killed by PID.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ProcessGroup } from "../tools/procs.ts";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const luanet = here("../bin/luanet.js");
const group = new ProcessGroup({ maxOutput: 1024 * 1024 });

/** Calls/s and latencies (ms); `cpu`: the client's CPU time over its run (µs), and `calls`. */
export type Figures = { rate: number; p50: number; p99: number; cpu?: number; calls?: number };

/** Start `node ...args` and resolve with the first match of `pattern` in its stdout or stderr (at most 20 s). */
export function startAndWait(args: string[], pattern: RegExp, env: NodeJS.ProcessEnv = {}): Promise<RegExpExecArray> {
  const child = group.start(process.execPath, args, { env });
  return child.until(String(pattern), () => pattern.exec(child.stdout) ?? pattern.exec(child.stderr) ?? undefined, 20_000);
}

/** Run `node ...args` to the end (at most 60 s) and parse the JSON its last line prints. */
export async function run<T = Figures>(args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const exit = await group.start(process.execPath, args, { env }).exited(60_000);
  if (exit.code !== 0) throw new Error(`${args.join(" ")} failed (${exit.code ?? exit.signal}): ${exit.stderr.slice(-4000)}`);
  return JSON.parse(exit.stdout.trim().split("\n").pop()!) as T;
}

/** The median of some measurements (the upper one of an even count). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Start a name service and a PlusServer; returns the env a client needs. */
export async function plusCluster(extraEnv: NodeJS.ProcessEnv = {}, serverArgs: string[] = []): Promise<NodeJS.ProcessEnv> {
  return (await plusClusterOf(extraEnv, serverArgs)).env;
}

/** plusCluster, and the PlusServer's PID (to read its CPU time). */
export async function plusClusterOf(extraEnv: NodeJS.ProcessEnv = {}, serverArgs: string[] = []): Promise<{ env: NodeJS.ProcessEnv; serverPid: number }> {
  const [, port] = await startAndWait([luanet, "nameservice", "--listen", "127.0.0.1:0"], /nameservice listening on 127\.0\.0\.1:(\d+)/, extraEnv);
  const env = { LUANET_NS: `127.0.0.1:${port}`, PLUS_ADDR: "127.0.0.1:0", LUANET_LOG_LEVEL: "warn", ...extraEnv };
  const server = group.start(process.execPath, [luanet, ...serverArgs, here("../samples/plus/server.ts")], { env: { ...env, LUANET_LOG_LEVEL: "info" } });
  await server.until("registered", () => /registered with the name service/.exec(server.stderr) ?? undefined, 20_000);
  return { env, serverPid: server.pid };
}

/** The CPU time (user + system) process `pid` has used so far, in µs, from /proc (10 ms steps). */
export function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000; // utime, stime: ticks of 1/100 s
}

/**
 * A name service with Plus servers for the groups benchmark: "PlusNamed" (no group), "PlusOne"
 * alone in the group "PlusSolo", and PlusG1..3 in the group "PlusGroup". Returns the env a client needs.
 */
export async function groupCluster(): Promise<NodeJS.ProcessEnv> {
  const [, port] = await startAndWait([luanet, "nameservice", "--listen", "127.0.0.1:0"], /nameservice listening on 127\.0\.0\.1:(\d+)/);
  const env = { LUANET_NS: `127.0.0.1:${port}`, LUANET_LOG_LEVEL: "info" };
  const members: [string, string?][] = [["PlusNamed"], ["PlusOne", "PlusSolo"], ["PlusG1", "PlusGroup"], ["PlusG2", "PlusGroup"], ["PlusG3", "PlusGroup"]];
  await Promise.all(members.map((args) => startAndWait([luanet, here("group-member.ts"), ...args.filter((a) => a !== undefined)], /registered with the name service/, env)));
  await new Promise((resolve) => setTimeout(resolve, 500)); // the JoinGroups that follow registering
  return { LUANET_NS: env.LUANET_NS, LUANET_LOG_LEVEL: "warn" };
}

export function luanetPlus(env: NodeJS.ProcessEnv, callers: number, seconds: number, options: string[] = [], extra: string[] = []): Promise<Figures> {
  return run([luanet, ...options, here("plus-client.ts"), String(callers), String(seconds), ...extra], env);
}

/** Plus between two services of one process (bench/colocated.ts), registered beside `env`'s. */
export function colocatedPlus(env: NodeJS.ProcessEnv, callers: number, seconds: number): Promise<Figures> {
  return run([luanet, here("colocated.ts"), String(callers), String(seconds)], { ...env, PLUS_SERVICE: "LocalPlus" });
}

/** The hand-written reference (bench/rpc-reference.ts); `records`: with cbor-x records, shapes
 * sent once per connection. */
export async function referencePlus(callers: number, seconds: number, records = false): Promise<Figures> {
  const env = { RECORDS: records ? "1" : "0" };
  const [, port] = await startAndWait(["--import", "tsx", here("rpc-reference.ts"), "server"], /^(\d+)$/m, env);
  return run(["--import", "tsx", here("rpc-reference.ts"), "client", port!, String(callers), String(seconds)], env);
}

/** Kill every process started here (SIGKILL, by PID) and wait until they are gone. */
export function stopAll(): Promise<void> {
  return group.kill9All();
}
