/**
 * `luanet up` in tests: a cluster folder (samples/cluster copied, or files given) with the
 * registry on a free port, the supervisor started, and every process it reports starting
 * (`(pid N)` in its stream) killed by PID when the test file ends, since they outlive it.
 */
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after } from "node:test";
import { freePorts } from "./etcd.ts";
import { fixture, root, runLuanet, startLuanet, tempDir, type Exit, type Running } from "./proc.ts";

const pids = new Set<number>();
after(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

/** Remember `pid` to be killed at the end. */
export function track(pid: number): void {
  pids.add(pid);
}

export interface Cluster {
  dir: string;
  /** The registry address (a name service `luanet up` starts). */
  registry: string;
}

/** A copy of samples/cluster (or a folder of `files`) whose registry is on a free port. */
export async function clusterDir(files?: Record<string, string>): Promise<Cluster> {
  const [port] = await freePorts(1);
  const registry = `127.0.0.1:${port}`;
  let dir: string;
  if (files === undefined) {
    dir = tempDir();
    cpSync(join(root, "samples/cluster"), dir, { recursive: true });
  } else dir = fixture(files);
  return { dir, registry };
}

/** Start `luanet up` in `cluster.dir`, tracking what it starts. */
export function up(cluster: Cluster, args: string[] = [], env: NodeJS.ProcessEnv = {}): Running {
  return trackStarted(startLuanet(["up", ...args, "--registry", cluster.registry], { cwd: cluster.dir, env: { LUANET_LOG_DIR: join(cluster.dir, "logs"), ...env } }));
}

/** Kill, when the test file ends, every process the supervisor `proc` says it started: they
 * outlive it (a test that fails midway, its supervisor SIGKILLed, leaves them running). */
export function trackStarted(proc: Running): Running {
  proc.child.stdout!.on("data", () => {
    for (const m of proc.stdout.matchAll(/\(pid (\d+)\)|-> (\d+)\)/g)) track(Number(m[1] ?? m[2]));
  });
  return proc;
}

/** Run a tool (`ps`, `restart` ...) against the cluster's registry. */
export function clusterTool(cluster: Cluster, args: string[], timeoutMs = 60_000): Promise<Exit> {
  return runLuanet([...args, "--registry", cluster.registry], { cwd: cluster.dir, timeoutMs });
}

export interface PsRow {
  name: string;
  process: string;
  pid: number | null;
  host: string;
  status: string;
  restarts: number;
  adopted: boolean;
}

/** `luanet ps`, parsed. */
export async function ps(cluster: Cluster): Promise<PsRow[]> {
  const r = await clusterTool(cluster, ["ps"], 15_000);
  if (r.code !== 0) throw new Error(`luanet ps exited ${r.code}: ${r.stderr}`);
  const [head, ...lines] = r.stdout.trimEnd().split("\n");
  if (!head?.startsWith("NAME")) throw new Error(`luanet ps printed no table: ${r.stdout}`);
  return lines.map((line) => {
    const parts = line.split(/\s+/);
    const adopted = parts[5] === "(adopted)";
    if (adopted) parts.splice(5, 1);
    const [name, process, pid, host, status, restarts] = parts;
    return { name: name!, process: process!, pid: pid === "-" ? null : Number(pid), host: host!, status: status!, restarts: Number(restarts), adopted };
  });
}

/**
 * A caller outside the cluster: `tasks` tasks call the group Room's Say without pause until the
 * file STOP appears in its folder (or 120 s pass), then it prints
 * `{ ok, failed: { code: n }, rooms: { name: n }, versions: [...] }` (`versions`: each change of
 * the result's `v`, 1 when it has none) and exits.
 */
export function roomLoad(cluster: Cluster, tasks = 4): Running & { stopFile: string } {
  const dir = fixture({ "load.ts": `
    import { existsSync } from "node:fs";
    export default function* () {
      const stop = new URL("./STOP", import.meta.url).pathname;
      let ok = 0;
      const failed: Record<string, number> = {}, rooms: Record<string, number> = {}, versions: number[] = [];
      const until = Date.now() + 120_000;
      console.log("load running");
      const workers = Array.from({ length: ${tasks} }, () => Sche.Spawn(function* () {
        while (!existsSync(stop) && Date.now() < until) {
          const [r, err] = yield* luanet.RPCCall<any>("Room", "Say", { player: "p", text: "hi" }, { timeout: 5000 });
          if (err !== null) { failed[err.code] = (failed[err.code] ?? 0) + 1; console.log("failed: " + err.code + ": " + err.message); yield* Sche.Sleep(20); continue; }
          ok++;
          rooms[r.room] = (rooms[r.room] ?? 0) + 1;
          const v = r.v ?? 1;
          if (versions[versions.length - 1] !== v) versions.push(v);
          yield* Sche.Sleep(2);
        }
      }));
      for (const w of workers) yield* w;
      console.log(JSON.stringify({ ok, failed, rooms, versions }));
      luanet.Exit(0);
    }
  ` });
  const proc = startLuanet([join(dir, "load.ts")], { cwd: dir, env: { LUANET_REGISTRY: cluster.registry } });
  return Object.assign(proc, { stopFile: join(dir, "STOP") });
}

/** Write `source` to `file` in the cluster's folder. */
export function edit(cluster: Cluster, file: string, source: string): void {
  writeFileSync(join(cluster.dir, file), source);
}
