/**
 * The cluster layer in-process (runtime/cluster/*.ts): the cluster file's checks and defaults,
 * plan(), CrashPolicy, the static import scan of --watch, LogStream's bounds, and scanUnits on a
 * real child process; plus a group call's fast path (service/group.ts MemberCall) falling back
 * to a registry look-up that rejects. No luanet processes, no sockets: tests/cluster.test.ts runs
 * `luanet up` itself.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { netaddr_ipv4 } from "../stdlib/net.ts";
import { isInstance, LuanetError, RPCError } from "../runtime/errors.ts";
import { checkClusterFile, ClusterFileError, instanceNames, MAX_INSTANCES, type ClusterFile } from "../runtime/cluster/file.ts";
import { plan, type PlanContext } from "../runtime/cluster/plan.ts";
import { CRASH_WINDOW_MS, CrashPolicy, HEALTHY_MS, MAX_DELAY_MS } from "../runtime/cluster/crash-policy.ts";
import { importedFiles } from "../runtime/cluster/imports.ts";
import { LogStream, MAX_LINE } from "../runtime/cluster/log-stream.ts";
import { scanUnits } from "../runtime/cluster/scan.ts";
import type { Instruction } from "../runtime/scheduler/instruction.ts";
import { awaitPromise } from "../runtime/scheduler/promise.ts";
import type { Registry, ServiceInfo } from "../runtime/registry/types.ts";
import { RPCCall } from "../runtime/service/api.ts";
import { Conn } from "../runtime/service/conn.ts";
import { Type } from "../runtime/wire/envelope.ts";
import { arrive, fakeLink, inTask, newRuntime, until } from "./helpers/inproc.ts";
import { fixture } from "./helpers/proc.ts";

// ---------------------------------------------------------------- the cluster file

/** A folder with the scripts the files below name. */
const dir = fixture({ "login.ts": "", "room.ts": "", "lobby.ts": "" });
const PATH = join(dir, "luanet.cluster.json");
const check = (value: unknown, host = "h1"): ClusterFile => checkClusterFile(value, PATH, host);
const withServices = (services: Record<string, unknown>, registry?: string) => ({ ...(registry === undefined ? {} : { registry }), services });

/** `value` is refused with a ClusterFileError (code bad_config) naming the file and `field`. */
function refused(value: unknown, field: string, why?: RegExp, host = "h1"): void {
  assert.throws(() => check(value, host), (error: unknown) => {
    assert.ok(error instanceof ClusterFileError, `a ClusterFileError, got ${String(error)}`);
    assert.equal(error.code, "bad_config");
    assert.ok(error.message.startsWith(`${PATH}: ${field} `), `names ${field}: ${error.message}`);
    if (why !== undefined) assert.match(error.message, why);
    return true;
  });
}

test("the issue's example file: defaults, absolute scripts, instances, shared process, file order", () => {
  const file = check(withServices({
    Login: { script: "login.ts" },
    Room: { script: "room.ts", instances: 3, group: "Room", process: "rooms" },
    Lobby: { script: "lobby.ts", args: ["--max", "500"], env: { LOBBY_MODE: "fast" } },
  }, "127.0.0.1:8010"));
  assert.equal(file.path, PATH);
  assert.equal(file.registryText, "127.0.0.1:8010");
  assert.deepEqual(file.services.map((s) => s.key), ["Login", "Room", "Lobby"], "the file's order");
  const [login, room, lobby] = file.services;
  assert.deepEqual({ ...login }, { key: "Login", script: join(dir, "login.ts"), instances: null, name: "Login", group: null, process: null, args: [], env: {} });
  assert.deepEqual({ ...room }, { key: "Room", script: join(dir, "room.ts"), instances: 3, name: "Room-{index}", group: "Room", process: "rooms", args: [], env: {} });
  assert.deepEqual(lobby!.args, ["--max", "500"]);
  assert.deepEqual(lobby!.env, { LOBBY_MODE: "fast" });
  assert.ok(Object.isFrozen(file) && Object.isFrozen(file.services) && Object.isFrozen(room), "the checked file is read-only");
  assert.deepEqual(instanceNames(login!), ["Login"]);
  assert.deepEqual(instanceNames(room!), ["Room-1", "Room-2", "Room-3"]);
  assert.deepEqual(instanceNames(room!, 5), ["Room-1", "Room-2", "Room-3", "Room-4", "Room-5"], "a count given (luanet scale) overrides the file's");
  assert.deepEqual(instanceNames(login!, 4), ["Login"], "a single entry stays one service whatever the count");
});

test("defaults: the registry is the local name service; a group without instances is one instance", () => {
  const file = check(withServices({ Chat: { script: "room.ts", group: "Chats" } }));
  assert.equal(file.registryText, "127.0.0.1:8010");
  const [chat] = file.services;
  assert.equal(chat!.instances, 1);
  assert.equal(chat!.name, "Chat-{index}");
  assert.deepEqual(instanceNames(chat!), ["Chat-1"]);
  assert.equal(check(withServices({ A: { script: "room.ts" } }, "etcd://127.0.0.1:2379")).registryText, "etcd://127.0.0.1:2379");
});

test("{host} in a name is the host reading the file, so two hosts' instances differ; {index} still counts", () => {
  const entry = { Room: { script: "room.ts", instances: 2, name: "Room-{host}-{index}" }, Login: { script: "login.ts", name: "Login@{host}" } };
  const names = (host: string) => check(withServices(entry), host).services.flatMap((s) => instanceNames(s));
  assert.deepEqual(names("alpha"), ["Room-alpha-1", "Room-alpha-2", "Login@alpha"]);
  assert.deepEqual(names("beta"), ["Room-beta-1", "Room-beta-2", "Login@beta"]);
});

test("the file itself: not an object, an unknown top-level field, a bad registry, no services", () => {
  refused([], "the file", /must hold an object/);
  refused(null, "the file");
  refused({ services: { A: { script: "room.ts" } }, servers: {} }, "servers", /not a field of a cluster file/);
  refused(withServices({ A: { script: "room.ts" } }, 8010 as unknown as string), "registry", /must be a string/);
  refused(withServices({ A: { script: "room.ts" } }, "nonsense://x"), "registry");
  refused({}, "services", /at least one service/);
  refused({ services: {} }, "services");
  refused({ services: [] }, "services");
});

test("an entry: its key, unknown fields, script, instances, group, process, args, env", () => {
  refused(withServices({ " Room": { script: "room.ts" } }), "services. Room", /not a service name/);
  refused(withServices({ "luanet.supervisor": { script: "room.ts" } }), "services.luanet.supervisor", /luanet's own/);
  refused(withServices({ A: "room.ts" }), "services.A", /must be an object/);
  refused(withServices({ A: { script: "room.ts", instance: 2 } }), "services.A.instance", /not a field of a service/);
  refused(withServices({ A: {} }), "services.A.script", /must be the path of a script/);
  refused(withServices({ A: { script: "" } }), "services.A.script");
  refused(withServices({ A: { script: "missing.ts" } }), "services.A.script", /names no file/);
  refused(withServices({ A: { script: "." } }), "services.A.script", /names no file/); // a folder
  for (const bad of [0, -1, 1.5, "3", MAX_INSTANCES + 1, Number.NaN]) {
    refused(withServices({ A: { script: "room.ts", instances: bad } }), "services.A.instances", /whole number from 1 to 1000/);
  }
  assert.equal(check(withServices({ A: { script: "room.ts", instances: MAX_INSTANCES } })).services[0]!.instances, MAX_INSTANCES);
  refused(withServices({ A: { script: "room.ts", group: 7 } }), "services.A.group", /group name/);
  refused(withServices({ A: { script: "room.ts", group: "" } }), "services.A.group");
  refused(withServices({ A: { script: "room.ts", process: " p" } }), "services.A.process", /must be a name/);
  refused(withServices({ A: { script: "room.ts", args: "--max 5" } }), "services.A.args", /array of strings/);
  refused(withServices({ A: { script: "room.ts", args: ["--max", 5] } }), "services.A.args");
  refused(withServices({ A: { script: "room.ts", env: ["X=1"] } }), "services.A.env", /object of strings/);
  refused(withServices({ A: { script: "room.ts", env: { X: 1 } } }), "services.A.env.X", /must be a string/);
  refused(withServices({ A: { script: "room.ts", env: { "X=Y": "1" } } }), "services.A.env", /variable name/);
});

test("names: {index} required on a scalable entry and refused on a single one, a pattern must make a service name", () => {
  refused(withServices({ Room: { script: "room.ts", instances: 2, name: "Room" } }), "services.Room.name", /must hold \{index\}/);
  refused(withServices({ Room: { script: "room.ts", group: "Rooms", name: "Room-{host}" } }), "services.Room.name", /must hold \{index\}/);
  refused(withServices({ Login: { script: "login.ts", name: "Login-{index}" } }), "services.Login.name", /no "instances"/);
  refused(withServices({ Room: { script: "room.ts", instances: 2, name: "Room-{index} " } }), "services.Room.name", /does not make a service name/);
  refused(withServices({ Room: { script: "room.ts", instances: 2, name: "x".repeat(300) + "{index}" } }), "services.Room.name", /does not make a service name/);
  refused(withServices({ Room: { script: "room.ts", instances: 2, name: 5 } }), "services.Room.name", /name pattern/);
  refused(withServices({ Room: { script: "room.ts", instances: 2, name: "" } }), "services.Room.name");
  // The key's rule holds for the names an entry makes: luanet.supervisor@<host> is the supervisor's.
  refused(withServices({ A: { script: "login.ts", name: "luanet.supervisor@{host}" } }), "services.A.name", /makes luanet.supervisor@h1: .*luanet's own/);
  refused(withServices({ A: { script: "room.ts", instances: 2, name: "luanet.{index}" } }), "services.A.name", /luanet's own/);
  refused(withServices({ A: { script: "login.ts", name: "{host}" } }), "services.A.name", /luanet's own/, "luanet.h");
  // {host} is part of the name: a host name that cannot be in one makes the pattern refused.
  refused(withServices({ Login: { script: "login.ts", name: "Login@{host}" } }), "services.Login.name", /does not make a service name/, "bad\thost");
});

test("names: two entries making the same name, a group named like a service, a shared process's env", () => {
  refused(withServices({ A: { script: "room.ts", name: "X" }, X: { script: "login.ts" } }), "services.X", /named X, as services.A does/);
  refused(withServices({ Room: { script: "room.ts", instances: 3 }, Other: { script: "room.ts", instances: 2, name: "Room-{index}" } }), "services.Other", /named Room-1/);
  refused(withServices({ Login: { script: "login.ts" }, Room: { script: "room.ts", group: "Login" } }), "services.Room.group", /the name of a service/);
  // A group may share its name with its own entry's key: the instances are Room-1.., not Room.
  assert.equal(check(withServices({ Room: { script: "room.ts", instances: 2, group: "Room" } })).services[0]!.group, "Room");
  refused(withServices({
    A: { script: "room.ts", process: "p", env: { MODE: "a", ONLY_A: "1" } },
    B: { script: "login.ts", process: "p", env: { MODE: "b" } },
  }), "services.B.env.MODE", /differs from services.A.env.MODE.*"p"/);
  // The same value, or variables only one of them sets, or different processes: accepted.
  check(withServices({ A: { script: "room.ts", process: "p", env: { MODE: "a", X: "1" } }, B: { script: "login.ts", process: "p", env: { MODE: "a", Y: "2" } } }));
  check(withServices({ A: { script: "room.ts", process: "p", env: { MODE: "a" } }, B: { script: "login.ts", process: "q", env: { MODE: "b" } } }));
});

// ---------------------------------------------------------------- plan()

const CONTEXT: PlanContext = { cli: "/luanet/bin/luanet.js", env: { LUANET_REGISTRY: "127.0.0.1:8010", LUANET_HOST: "h1" } };

test("plan(): a process per instance, shared processes run-services, stages in the file's order", () => {
  const file = check(withServices({
    Login: { script: "login.ts", env: { LOGIN_X: "1" } },
    Room: { script: "room.ts", instances: 2, group: "Room", process: "rooms", args: ["--fast"], env: { ROOM_X: "1" } },
    Lobby: { script: "lobby.ts", args: ["--max", "500"], instances: 2 },
    Bot: { script: "login.ts", process: "rooms", name: "Bot" },
  }));
  const units = plan(file, new Map(), CONTEXT);
  assert.deepEqual(units.map((u) => [u.id, u.stage]), [["Login", 0], ["rooms", 1], ["Lobby-1", 2], ["Lobby-2", 2]]);
  assert.ok(units.every((u) => u.cwd === dir && u.ready === "pipe"), "run in the file's folder, ready told on a pipe");

  const login = units[0]!;
  assert.deepEqual(login.argv, [CONTEXT.cli, join(dir, "login.ts")]);
  assert.deepEqual(login.members, [{ name: "Login", key: "Login", script: join(dir, "login.ts"), instance: { name: "Login", index: 1, group: null } }]);
  assert.deepEqual(login.env, { ...CONTEXT.env, LOGIN_X: "1", LUANET_INSTANCE: JSON.stringify({ name: "Login", index: 1, group: null }) });

  const lobby2 = units[3]!;
  assert.deepEqual(lobby2.argv, [CONTEXT.cli, join(dir, "lobby.ts"), "--max", "500"]);
  assert.deepEqual(JSON.parse(lobby2.env.LUANET_INSTANCE!), { name: "Lobby-2", index: 2, group: null });
  assert.equal(lobby2.env.LUANET_PROCESS_SERVICES, undefined);

  const rooms = units[1]!;
  assert.deepEqual(rooms.argv, [CONTEXT.cli, "run-services"]);
  assert.deepEqual(rooms.members.map((m) => m.name), ["Room-1", "Room-2", "Bot"], "the Bot entry (later in the file) joins the rooms process");
  assert.equal(rooms.env.LUANET_INSTANCE, undefined, "a shared process is no instance itself");
  assert.equal(rooms.env.ROOM_X, "1");
  assert.equal(rooms.env.LUANET_HOST, "h1");
  assert.deepEqual(JSON.parse(rooms.env.LUANET_PROCESS_SERVICES!), [
    { script: join(dir, "room.ts"), args: ["--fast"], instance: { name: "Room-1", index: 1, group: "Room" } },
    { script: join(dir, "room.ts"), args: ["--fast"], instance: { name: "Room-2", index: 2, group: "Room" } },
    { script: join(dir, "login.ts"), args: [], instance: { name: "Bot", index: 1, group: null } },
  ]);
});

test("plan(): counts override the file's instances (luanet scale), the context's env is every unit's", () => {
  const file = check(withServices({ Room: { script: "room.ts", instances: 3 }, Shared: { script: "room.ts", instances: 1, process: "p" }, Login: { script: "login.ts" } }));
  const context: PlanContext = { cli: "/cli.js", env: { LUANET_REGISTRY: "etcd://10.0.0.1:2379", LUANET_HOST: "beta" } };
  const units = plan(file, new Map([["Room", 5], ["Shared", 2], ["Login", 9]]), context);
  assert.deepEqual(units.map((u) => u.id), ["Room-1", "Room-2", "Room-3", "Room-4", "Room-5", "p", "Login"]);
  assert.deepEqual(units.find((u) => u.id === "p")!.members.map((m) => m.name), ["Shared-1", "Shared-2"]);
  for (const unit of units) {
    assert.equal(unit.env.LUANET_REGISTRY, "etcd://10.0.0.1:2379");
    assert.equal(unit.env.LUANET_HOST, "beta");
  }
  assert.deepEqual(plan(file, new Map([["Room", 1]]), context).filter((u) => u.stage === 0).map((u) => u.id), ["Room-1"], "scaled down");
});

// ---------------------------------------------------------------- CrashPolicy

test("CrashPolicy: 0.5, 1, 2, 4 s, then left down on the 5th crash within a minute", () => {
  const policy = new CrashPolicy();
  const delays: (number | null)[] = [];
  let now = 1_000_000;
  for (let i = 0; i < 5; i++) {
    delays.push(policy.crashed(now, 100));
    now += 1000;
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, null]);
  assert.equal(policy.recent(now), 5);
  assert.equal(policy.recent(now + CRASH_WINDOW_MS), 0, "a minute later none is recent");
});

test("CrashPolicy: crashes more than a minute apart are never left down, the delay doubles up to 30 s", () => {
  const policy = new CrashPolicy();
  const delays: (number | null)[] = [];
  let now = 0;
  for (let i = 0; i < 10; i++) {
    delays.push(policy.crashed(now, 100)); // each time it ran 0.1 s only: not healthy
    now += CRASH_WINDOW_MS + 1;
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, MAX_DELAY_MS, MAX_DELAY_MS, MAX_DELAY_MS, MAX_DELAY_MS]);
});

test("CrashPolicy: 60 s up resets the backoff; reset() forgets the crashes", () => {
  const policy = new CrashPolicy();
  assert.equal(policy.crashed(0, 10), 500);
  assert.equal(policy.crashed(100, 10), 1000);
  assert.equal(policy.crashed(200, 10), 2000);
  assert.equal(policy.crashed(300, HEALTHY_MS - 1), 4000, "just under a minute up: not yet healthy");
  assert.equal(policy.crashed(HEALTHY_MS + 400, HEALTHY_MS), 500, "a minute up: the first delay again");
  const fresh = new CrashPolicy();
  for (let i = 0; i < 4; i++) fresh.crashed(i, 1);
  fresh.reset();
  assert.equal(fresh.recent(5), 0);
  assert.equal(fresh.crashed(5, 1), 500, "after reset the 5th crash is a first crash, not left down");
});

// ---------------------------------------------------------------- importedFiles

test("importedFiles: ./x.js is x.ts, folders are their index, require/import()/export from followed, packages not", () => {
  const src = fixture({
    "main.ts": [
      `import { a } from "./a.js";`,
      `import "./side.mjs";`,
      `export { b } from './lib';`,
      `const c = require("./c.cjs");`,
      `const d = await import ( "./d" );`,
      `import chalk from "chalk";`,
      `import { x } from "node:fs";`,
      `import { gone } from "./missing.js";`,
    ].join("\n"),
    "a.ts": `import { main } from "./main.ts"; export const a = 1;`, // a cycle
    "side.mts": "",
    "lib/index.ts": `export * from "../deep/e.js";`,
    "deep/e.tsx": "",
    "c.cts": "",
    "d.js": "",
    "node_modules/pkg/index.js": "",
    "unused.ts": "",
  });
  const files = importedFiles(join(src, "main.ts"));
  const rel = [...files].map((f) => f.slice(src.length + 1)).sort();
  assert.deepEqual(rel, ["a.ts", "c.cts", "d.js", "deep/e.tsx", "lib/index.ts", "main.ts", "side.mts"]);
});

test("importedFiles: a relative import into node_modules is not watched; a missing script is itself only", () => {
  const src = fixture({ "main.ts": `import "./node_modules/pkg/index.js"; import "/abs/nowhere.ts";`, "node_modules/pkg/index.js": `import "../../main.ts";` });
  assert.deepEqual([...importedFiles(join(src, "main.ts"))], [join(src, "main.ts")]);
  assert.deepEqual([...importedFiles(join(src, "nope.ts"))], [join(src, "nope.ts")]);
});

test("importedFiles: an absolute specifier and a change on disk are read fresh each time", () => {
  const src = fixture({ "main.ts": "", "b.ts": "" });
  assert.deepEqual([...importedFiles(join(src, "main.ts"))], [join(src, "main.ts")]);
  writeFileSync(join(src, "main.ts"), `import ${JSON.stringify(join(src, "b.ts"))};`);
  assert.deepEqual([...importedFiles(join(src, "main.ts"))].sort(), [join(src, "b.ts"), join(src, "main.ts")]);
});

// ---------------------------------------------------------------- LogStream

/** A Writable that keeps what is written and reports the `writableLength` the test sets. */
class FakeOut extends Writable {
  readonly chunks: string[] = [];
  queued = 0;
  constructor() {
    super();
    // writableLength is a getter of Writable's prototype: this one says what the test sets.
    Object.defineProperty(this, "writableLength", { get: () => this.queued });
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.chunks.push(chunk.toString());
    done();
  }
  /** Lines written, colours removed. */
  lines(): string[] {
    return this.chunks.join("").replace(/\x1b\[[0-9;]*m/g, "").split("\n").slice(0, -1);
  }
}

test("LogStream: names padded to the widest reserved (at most 24), lines cut at MAX_LINE", () => {
  const out = new FakeOut();
  const log = new LogStream(out);
  log.line("A", "first");
  log.reserve("Room-10");
  log.line("Room-10", "hi");
  log.line("A", "x".repeat(MAX_LINE + 50));
  log.reserve("N".repeat(40));
  log.line("B", "wide");
  const lines = out.lines();
  assert.equal(lines[0], "A  | first", "at least 2 wide");
  assert.equal(lines[1], "Room-10 | hi");
  assert.equal(lines[2], `A       | ${"x".repeat(MAX_LINE)}…`);
  assert.equal(lines[3], `B${" ".repeat(23)} | wide`);
});

test("LogStream: while the output is behind, lines are dropped and counted, and the count is printed after", () => {
  const out = new FakeOut();
  const log = new LogStream(out);
  log.line("A", "one");
  out.queued = (1 << 20) + 1; // over MAX_QUEUED: the terminal or pipe is slow
  for (let i = 0; i < 3; i++) log.line("A", `lost ${i}`);
  log.line("B", "lost too");
  assert.equal(out.lines().length, 1, "nothing written while behind");
  out.queued = 1 << 20; // at the limit: writes again
  log.line("A", "two");
  log.line("A", "three");
  assert.deepEqual(out.lines(), ["A  | one", "up | (4 lines of output dropped: the terminal or pipe was too slow)", "A  | two", "A  | three"]);
});

test("LogStream.follow: splits chunks into lines, strips \\r, keeps a partial last line, cuts a line that never ends", async () => {
  const out = new FakeOut();
  const log = new LogStream(out);
  const { PassThrough } = await import("node:stream");
  const source = new PassThrough();
  const ended = new Promise((resolve) => source.on("end", resolve));
  log.follow("Room-1", source);
  source.write("he");
  source.write("llo\r\nwor");
  source.write("ld\n" + "y".repeat(MAX_LINE + 1));
  source.end("tail");
  await ended;
  assert.deepEqual(out.lines(), ["Room-1 | hello", "Room-1 | world", `Room-1 | ${"y".repeat(MAX_LINE)}…`, "Room-1 | tail"]);
});

// ---------------------------------------------------------------- scanUnits

test("scanUnits finds a process by LUANET_UNIT for its host and registry only", { skip: process.platform !== "linux" ? "scanUnits reads /proc: Linux only" : false }, async (t) => {
  const host = `unit-test-${process.pid}`;
  const registry = `127.0.0.1:${10000 + (process.pid % 50000)}`;
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 5000)"], {
    env: { PATH: process.env.PATH, LUANET_UNIT: "Room-7", LUANET_HOST: host, LUANET_REGISTRY: registry },
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
    await exited;
  });
  assert.ok(child.pid !== undefined);
  // Until the child has exec'd node, /proc shows this process's environment: wait for it, bounded.
  await until(() => scanUnits(host, registry).has("Room-7"), "the child to show in /proc", 5000);
  const found = scanUnits(host, registry).get("Room-7")!;
  assert.equal(found.pid, child.pid);
  assert.ok(Math.abs(found.since - Date.now()) < 10_000, `started about now: ${new Date(found.since).toISOString()}`);
  assert.equal(scanUnits("another-host", registry).has("Room-7"), false, "another host's");
  assert.equal(scanUnits(host, "127.0.0.1:1").has("Room-7"), false, "another registry's");
  assert.equal(scanUnits(host, registry).size, 1, "and nothing else");
  process.kill(child.pid!, "SIGKILL");
  await exited;
  assert.equal(scanUnits(host, registry).has("Room-7"), false, "gone once killed");
});

// ---------------------------------------------------------------- a group call's fast path

/** The part of a registry a group call uses: the watch's members of "Room" (`cached`, undefined
 * once the watch lost them), and `members()` rejecting after a turn of the event loop (as a
 * registry that went away does). */
class FakeGroupRegistry implements Pick<Registry, "where" | "members" | "cachedMembers" | "unreachable"> {
  readonly where = "a fake registry";
  cached: readonly ServiceInfo[] | undefined;
  asked = 0;
  constructor(members: readonly ServiceInfo[]) {
    this.cached = members;
  }
  cachedMembers(group: string): readonly ServiceInfo[] | undefined {
    return group === "Room" ? this.cached : undefined;
  }
  *members(): Generator<Instruction, readonly ServiceInfo[], unknown> {
    this.asked++;
    return yield* awaitPromise(new Promise<readonly ServiceInfo[]>((_, reject) => setImmediate(() => reject(new Error("the registry went away")))));
  }
  unreachable(): void {
    this.cached = undefined;
  }
}

const member = (name: string): ServiceInfo => ({ name, type: "stream", addr: netaddr_ipv4("127.0.0.1", 1), pid: 1, host: "h1", funcs: ["Get"], started: 0, groups: ["Room"] });

test("a group call whose member refuses it unrun, then whose registry look-up rejects, returns [null, RPCError], not a throw", async () => {
  const runtime = newRuntime();
  const caller = runtime.root;
  const registry = new FakeGroupRegistry([member("Room-1")]);
  Object.defineProperty(caller, "registry", { value: registry });
  // The member's connection is open (a fake link): the call takes MemberCall, the fast path.
  const link = fakeLink("Room-1");
  const peer = caller.peers.named("Room-1");
  peer.conn = new Conn(caller, link, peer);
  caller.routes.route("Room"); // "Room" is known to be a group (an earlier call found it)
  const result = inTask(() => RPCCall(caller, "Room", "Get", null), 3000);
  await until(() => link.sent.length > 0, "the CALL to Room-1");
  const [type, id, func] = link.frames()[0]!;
  assert.deepEqual([type, func], [Type.CALL, "Get"]);
  // Room-1 is leaving: it answers draining (it did not run the call), and the watch has lost the
  // group meanwhile, so the call asks the registry, which rejects.
  registry.cached = undefined;
  arrive(peer.conn, [Type.ERROR, id as number, "draining", "Room-1 is draining", null]);
  const [value, err] = await result;
  assert.equal(value, null);
  assert.ok(isInstance(err, RPCError), `an RPCError, got ${String(err)}`);
  assert.ok(isInstance(err, LuanetError));
  assert.equal(err.code, "unavailable");
  assert.match(err.message, /the registry went away/);
  assert.equal(registry.asked, 1, "the registry was asked once");
});
