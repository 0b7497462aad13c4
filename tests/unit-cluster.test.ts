/**
 * The cluster layer in-process (issue 15): the cluster file's checks and names, the plan of
 * processes, the crash policy, the import scan behind --watch, the bounded log stream, and the
 * /proc scan that adoption uses. tests/cluster.test.ts runs the whole thing with real processes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { checkClusterFile, instanceNames, type ClusterFile } from "../runtime/cluster/file.ts";
import { CrashPolicy } from "../runtime/cluster/crash-policy.ts";
import { importedFiles } from "../runtime/cluster/imports.ts";
import { LogStream, MAX_LINE } from "../runtime/cluster/log-stream.ts";
import { plan } from "../runtime/cluster/plan.ts";
import { scanUnits } from "../runtime/cluster/scan.ts";
import { fixture } from "./helpers/proc.ts";
import { arrive, fakeLink, inTask, newRuntime, until } from "./helpers/inproc.ts";
import { RPCError } from "../runtime/errors.ts";
import type { ServiceInfo } from "../runtime/registry/types.ts";
import { awaitPromise } from "../runtime/scheduler/promise.ts";
import { RPCCall } from "../runtime/service/api.ts";
import { Conn } from "../runtime/service/conn.ts";
import { Type } from "../runtime/wire/envelope.ts";

const dir = fixture({ "room.ts": "", "login.ts": "" });
const path = join(dir, "luanet.cluster.json");
const check = (value: unknown, host = "h1"): ClusterFile => checkClusterFile(value, path, host);
const refused = (value: unknown, pattern: RegExp) => assert.throws(() => check(value), (e: Error) => {
  assert.match(e.message, pattern);
  assert.equal((e as { code?: string }).code, "bad_config");
  return true;
});

describe("the cluster file", () => {
  test("defaults: the registry, a single service named as its key, a group alone means one instance", () => {
    const file = check({ services: { Login: { script: "login.ts" }, Room: { script: "room.ts", group: "Room" } } });
    assert.equal(file.registryText, "127.0.0.1:8010");
    assert.deepEqual(instanceNames(file.services[0]!), ["Login"]);
    assert.deepEqual(instanceNames(file.services[1]!), ["Room-1"]);
    assert.equal(file.services[0]!.script, join(dir, "login.ts"));
  });

  test("names: Room-1..N, a `name` pattern with {index} and {host}", () => {
    const file = check({ services: { Room: { script: "room.ts", instances: 3, name: "Room-{host}-{index}" } } }, "game7");
    assert.deepEqual(instanceNames(file.services[0]!), ["Room-game7-1", "Room-game7-2", "Room-game7-3"]);
    assert.deepEqual(instanceNames(file.services[0]!, 1), ["Room-game7-1"]);
    assert.deepEqual(instanceNames(check({ services: { Room: { script: "room.ts", instances: 2 } } }).services[0]!), ["Room-1", "Room-2"]);
  });

  test("every refusal names the field", () => {
    refused([], /the file must hold an object/);
    refused({ services: { A: { script: "room.ts" } }, extra: 1 }, /extra is not a field of a cluster file/);
    refused({ services: { A: { script: "room.ts", replicas: 2 } } }, /services\.A\.replicas is not a field of a service/);
    refused({ services: { A: { script: "nope.ts" } } }, /services\.A\.script names no file/);
    refused({ services: { A: {} } }, /services\.A\.script must be the path of a script/);
    refused({ services: { A: { script: "room.ts", instances: 1.5 } } }, /services\.A\.instances must be a whole number from 1 to 1000/);
    refused({ services: { A: { script: "room.ts", instances: 1001 } } }, /services\.A\.instances/);
    refused({ services: { A: { script: "room.ts", args: [1] } } }, /services\.A\.args must be an array of strings/);
    refused({ services: { A: { script: "room.ts", env: { X: 1 } } } }, /services\.A\.env\.X must be a string/);
    refused({ services: { "luanet.x": { script: "room.ts" } } }, /services\.luanet\.x is not a service name/);
    refused({ services: { " A": { script: "room.ts" } } }, /not a service name/);
    refused({ registry: 8010, services: { A: { script: "room.ts" } } }, /registry must be a string/);
    refused({ services: {} }, /services must be an object with at least one service/);
    refused({ services: { Login: { script: "login.ts" }, Room: { script: "room.ts", group: "Login" } } }, /services\.Room\.group is "Login", the name of a service/);
    refused({ services: { "Room-2": { script: "login.ts" }, Room: { script: "room.ts", instances: 3 } } }, /would start a service named Room-2/);
    refused({ services: { A: { script: "room.ts", process: "p", env: { X: "1" } }, B: { script: "login.ts", process: "p", env: { X: "2" } } } }, /services\.B\.env\.X differs from services\.A\.env\.X/);
    refused({ services: { A: { script: "room.ts", instances: 2, name: "Room" } } }, /services\.A\.name must hold \{index\}/);
    refused({ services: { A: { script: "room.ts", name: "A-{index}" } } }, /services\.A\.name holds \{index\}, but the entry has no "instances"/);
    refused({ services: { A: { script: "room.ts", name: " A" } } }, /services\.A\.name does not make a service name/);
  });
});

describe("the plan of processes", () => {
  const context = { cli: "/luanet/bin/luanet.js", env: { LUANET_REGISTRY: "127.0.0.1:9", LUANET_HOST: "h1" } };
  const file = check({ services: {
    Login: { script: "login.ts", process: "front" },
    Room: { script: "room.ts", instances: 2, group: "Room", args: ["-v"], env: { MODE: "x" } },
    Lobby: { script: "login.ts", process: "front" },
  } });

  test("a process per instance, entries with one `process` together, in the file's order", () => {
    const units = plan(file, new Map(), context);
    assert.deepEqual(units.map((u) => u.id), ["front", "Room-1", "Room-2"]);
    assert.deepEqual(units[0]!.members.map((m) => m.name), ["Login", "Lobby"]);
    assert.deepEqual(units[0]!.argv, [context.cli, "run-services"]);
    const shared = JSON.parse(units[0]!.env.LUANET_PROCESS_SERVICES!);
    assert.deepEqual(shared.map((s: { instance: { name: string } }) => s.instance.name), ["Login", "Lobby"]);
    assert.deepEqual(units[1]!.argv, [context.cli, join(dir, "room.ts"), "-v"]);
    assert.deepEqual(JSON.parse(units[2]!.env.LUANET_INSTANCE!), { name: "Room-2", index: 2, group: "Room" });
    assert.equal(units[1]!.env.MODE, "x");
    assert.equal(units[1]!.env.LUANET_REGISTRY, "127.0.0.1:9");
    assert.equal(units[1]!.cwd, dir);
  });

  test("scaled counts replace the file's", () => {
    assert.deepEqual(plan(file, new Map([["Room", 4]]), context).map((u) => u.id), ["front", "Room-1", "Room-2", "Room-3", "Room-4"]);
    assert.deepEqual(plan(file, new Map([["Room", 0]]), context).map((u) => u.id), ["front"]);
  });
});

describe("the crash policy", () => {
  test("0.5 s doubling, left down at the 5th crash within a minute", () => {
    const p = new CrashPolicy();
    assert.deepEqual([0, 1, 2, 3].map((i) => p.crashed(i * 1000, 100)), [500, 1000, 2000, 4000]);
    assert.equal(p.crashed(4000, 100), null);
  });

  test("crashes over a minute apart are never left down; the delay stops at 30 s; 60 s up resets it", () => {
    const p = new CrashPolicy();
    const delays = Array.from({ length: 10 }, (_, i) => p.crashed(i * 61_000, 1000));
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
    assert.equal(p.crashed(11 * 61_000, 60_000), 500, "healthy for a minute: the first delay again");
    p.reset();
    assert.equal(p.recent(11 * 61_000), 0);
  });
});

describe("the import scan (--watch)", () => {
  test("follows relative imports as tsx resolves them, not packages; cycles end", () => {
    const d = fixture({
      "main.ts": `import { a } from "./a.js";\nimport chalk from "chalk";\nexport * from "./lib";\nconst c = require("./c.cjs");\nvoid import("./d.mjs");\n`,
      "a.ts": `import "./main.ts";\n`,
      "lib/index.ts": `export const x = 1;\n`,
      "c.cjs": ``,
      "d.mjs": `import "./missing.js";\n`,
    });
    const files = [...importedFiles(join(d, "main.ts"))].map((f) => f.slice(d.length + 1)).sort();
    assert.deepEqual(files, ["a.ts", "c.cjs", "d.mjs", "lib/index.ts", "main.ts"]);
  });
});

describe("the log stream", () => {
  /** What the stream writes to: `writableLength` says how much the reader has not taken yet. */
  const sink = { lines: [] as string[], writableLength: 0, write(text: string) {
    this.lines.push(text);
    return true;
  } };

  test("prefixed and padded; long lines cut; lines dropped and counted while the reader is slow", () => {
    const stream = new LogStream(sink as unknown as Writable);
    stream.reserve("Room-12");
    stream.line("up", "hello");
    stream.line("Room-12", "x".repeat(MAX_LINE + 10));
    assert.equal(sink.lines[0], "up      | hello\n");
    assert.equal(sink.lines[1], `Room-12 | ${"x".repeat(MAX_LINE)}…\n`);
    sink.writableLength = 2 << 20;
    for (let i = 0; i < 5; i++) stream.line("up", `lost ${i}`);
    sink.writableLength = 0;
    stream.line("up", "back");
    assert.deepEqual(sink.lines.slice(2), ["up      | (5 lines of output dropped: the terminal or pipe was too slow)\n", "up      | back\n"]);
  });
});

describe("the process scan (adoption)", { skip: process.platform === "linux" ? false : "it reads Linux's /proc" }, () => {
  test("finds a process by the LUANET_UNIT, LUANET_HOST and LUANET_REGISTRY it started with, and only so", async () => {
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 20000)"], {
      env: { ...process.env, LUANET_UNIT: "Bot", LUANET_HOST: "scan-host", LUANET_REGISTRY: "127.0.0.1:7" }, stdio: "ignore",
    });
    try {
      await new Promise((resolve) => child.once("spawn", resolve));
      const found = scanUnits("scan-host", "127.0.0.1:7").get("Bot");
      assert.equal(found?.pid, child.pid);
      assert.ok(Math.abs(found!.since - Date.now()) < 60_000, `started ${found!.since}`);
      assert.equal(scanUnits("other-host", "127.0.0.1:7").get("Bot"), undefined);
      assert.equal(scanUnits("scan-host", "127.0.0.1:8").get("Bot"), undefined);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("a group call during a rolling restart", () => {
  test("its member says draining and the registry then cannot answer: the call fails with an RPCError, the task does not", async () => {
    const rt = newRuntime();
    const self = rt.root;
    const member = (name: string, port: number): ServiceInfo => ({
      name, type: "stream", addr: { family: "inet", ip: "127.0.0.1", port }, pid: 1, host: "h", funcs: ["Say"], started: 0, groups: ["Room"],
    });
    let cached: ServiceInfo[] | undefined = [member("Room-1", 1), member("Room-2", 2)];
    // The registry as a process without a watch holds it: members trusted for a while, then asked
    // for again; here the asking fails (a rejected promise the task awaits).
    const registry = {
      where: "a fake registry",
      cachedMembers: () => cached,
      unreachable: () => {},
      *members() {
        return yield* awaitPromise<ServiceInfo[]>(Promise.reject(new RPCError("unavailable", "the registry is away")));
      },
    };
    Object.defineProperty(self, "registry", { value: registry });
    self.routes.route("Room");
    // Both members connected (so the first try is the fast path, a MemberCall).
    const links = ["Room-1", "Room-2"].map((name) => {
      const peer = self.peers.named(name);
      const link = fakeLink(name);
      peer.conn = new Conn(self, link, peer);
      return { peer, link };
    });
    const result = inTask(() => RPCCall(self, "Room", "Say", null, { balance: "round-robin" }));
    await until(() => links.some((l) => l.link.sent.length > 0), "the call to go out");
    const sentOn = links.find((l) => l.link.sent.length > 0)!;
    const [, id] = sentOn.link.frames()[0] as [number, number];
    cached = undefined; // the trusted answer has run out: the next try asks the registry
    arrive(sentOn.peer.conn!, [Type.ERROR, id, "draining", `${sentOn.peer.name} is leaving`, null]);
    const [ret, err] = await result;
    assert.equal(ret, null);
    assert.ok(err instanceof RPCError, String(err));
    assert.equal(err.code, "unavailable");
    assert.match(err.message, /the registry is away|did not answer/);
  });
});
