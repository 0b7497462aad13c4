/**
 * Running a cluster (issue 15) with real processes: `luanet up samples/cluster/luanet.cluster.json`
 * starts the registry and every service, `luanet ps` lists them, a room killed with -9 comes
 * back, a script that throws at start is left down after 5 crashes, `luanet restart`, `scale`
 * and `reload` under a steady load of calls to the group Room fail no call, and a supervisor
 * killed with -9 leaves its services serving and is succeeded by one that adopts them.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { lastJson, poll, startNameService } from "./helpers/cluster.ts";
import { runLuanet, type Running } from "./helpers/proc.ts";
import { clusterDir, clusterTool, edit, ps, roomLoad, up, type Cluster } from "./helpers/up.ts";

const READY = /(\d+) of (\d+) services running, (\d+) ms/;
/** Starting seven services takes about 2 s here; far more on a loaded machine. */
const START_MS = 60_000;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Stop the load and read its tally. */
async function finish(load: Running & { stopFile: string }): Promise<{ ok: number; failed: Record<string, number>; rooms: Record<string, number>; versions: number[]; why: string }> {
  edit({ dir: join(load.stopFile, ".."), registry: "" }, "STOP", "");
  const exit = await load.exited(30_000);
  assert.equal(exit.code, 0, exit.stderr);
  // `why`: the first failures, for an assertion's message.
  return { ...lastJson(exit.stdout), why: exit.stdout.split("\n").filter((l) => l.startsWith("failed: ")).slice(0, 10).join("\n") };
}

/** A service script for a cluster file: `name` (luanet.instance's, when it has one) offering Get,
 * which answers `result`; luanet up hands it the registry. */
const service = (name: string, imports: string, result: string) => `import type {} from "luanet/globals";
import * as net from "luanet/net";
${imports}
luanet.StartLocalService(luanet.instance?.name ?? ${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.RegRPCFunction("Get", () => ${result});
luanet.Register2Name("127.0.0.1:1"); // overruled by the cluster's registry
`;

/** Let the load run for `ms`. */
const run = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("luanet up samples/cluster", { concurrency: 1 }, () => {
  let cluster: Cluster;
  let supervisor: Running;
  before(async () => {
    cluster = await clusterDir();
    supervisor = up(cluster);
    await supervisor.waitFor(READY, START_MS);
  });
  after(async () => {
    await supervisor?.stop(60_000);
  });

  test("starts the name service and every service, and luanet ps lists them all, running", async (t) => {
    const [, running, total, ms] = READY.exec(supervisor.stdout)!;
    assert.equal(running, total, supervisor.stdout);
    t.diagnostic(`up in ${ms} ms`);
    const rows = await ps(cluster);
    assert.deepEqual(rows.map((r) => r.name), ["nameservice", "Login", "Lobby", "Room-1", "Room-2", "Room-3", "Bot"]);
    for (const r of rows) {
      assert.equal(r.status, "running", `${r.name}: ${JSON.stringify(r)}`);
      assert.ok(r.pid !== null && alive(r.pid), `${r.name}'s pid ${r.pid} is alive`);
    }
    const [login, lobby] = [rows.find((r) => r.name === "Login")!, rows.find((r) => r.name === "Lobby")!];
    assert.equal(login.pid, lobby.pid, "Login and Lobby share the process front");
    assert.equal(login.process, "front");
    // The prefixed stream: each service's lines under its process's name.
    assert.match(supervisor.stdout, /^Room-2\s+\| .*Room-2 registered with the name service/m);
    await supervisor.waitFor(/^Bot\s+\| calls ok \d+, failed 0/m, 20_000);
  });

  test("a room killed with -9 is started again and registered", async (t) => {
    const before = (await ps(cluster)).find((r) => r.name === "Room-2")!;
    const killed = Date.now();
    process.kill(before.pid!, "SIGKILL");
    const after = await poll("Room-2 running again", async () => {
      const row = (await ps(cluster)).find((r) => r.name === "Room-2")!;
      return row.pid !== before.pid && row.status === "running" ? row : undefined;
    }, 20_000, 50);
    const registered = await poll("Room-2 registered with its new pid", async () => {
      const r = await clusterTool(cluster, ["ls"]);
      return new RegExp(`^Room-2 .* ${after.pid} `, "m").test(r.stdout) ? Date.now() : undefined;
    }, 20_000, 50);
    t.diagnostic(`Room-2 killed, running and registered again ${registered - killed} ms later`);
    assert.equal(after.restarts, before.restarts + 1);
    assert.match(supervisor.stdout, /Room-2: killed by SIGKILL; restarting in 0\.5 s/);
  });

  test("luanet restart Room under a steady load of calls to the group: one room at a time, 0 failed calls", async () => {
    const load = roomLoad(cluster);
    await load.waitFor(/load running/, 20_000);
    await run(500);
    const before = await ps(cluster);
    const r = await clusterTool(cluster, ["restart", "Room"], 120_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/: restarted \(pid \d+ -> \d+\)/g)?.length, 3, r.stdout);
    await run(500);
    const tally = await finish(load);
    assert.deepEqual(tally.failed, {}, JSON.stringify(tally));
    assert.ok(tally.ok > 100, JSON.stringify(tally));
    const after = await ps(cluster);
    for (const name of ["Room-1", "Room-2", "Room-3"]) {
      assert.notEqual(after.find((x) => x.name === name)!.pid, before.find((x) => x.name === name)!.pid, `${name} has a new process`);
    }
    assert.equal(after.find((x) => x.name === "Bot")!.pid, before.find((x) => x.name === "Bot")!.pid, "nothing else restarted");
  });

  test("luanet reload Room after editing Say: old or new result, 0 failed, then only the new; luanet.State counts on; a syntax error changes nothing", async () => {
    const said = async () => {
      const r = await clusterTool(cluster, ["call", "Room-1", "Say", "{}"]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { said: number; v?: number };
    };
    const load = roomLoad(cluster);
    await load.waitFor(/load running/, 20_000);
    await run(500);
    const before = await said();
    const source = readFileSync(join(cluster.dir, "room.ts"), "utf8");
    edit(cluster, "room.ts", source.replace("({ room, said: ++stats.said })", "({ room, said: ++stats.said, v: 2 })"));
    const r = await clusterTool(cluster, ["reload", "Room"]);
    assert.equal(r.code, 0, r.stderr);
    const rooms = (await ps(cluster)).filter((row) => row.name.startsWith("Room-")).length;
    assert.equal(r.stdout.match(/reloaded/g)?.length, rooms, r.stdout);
    const tally = await finish(load);
    assert.deepEqual(tally.failed, {}, JSON.stringify(tally));
    assert.deepEqual([...new Set(tally.versions)].sort(), [1, 2], "while the rooms reload one by one, old and new results");
    const afterwards = roomLoad(cluster);
    await afterwards.waitFor(/load running/, 20_000);
    await run(500);
    const later = await finish(afterwards);
    assert.deepEqual(later.failed, {}, JSON.stringify(later));
    assert.deepEqual(later.versions, [2], "once reloaded, only the new code answers");
    const now = await said();
    assert.equal(now.v, 2);
    assert.ok(now.said > before.said + 1, `the counter in luanet.State went on from ${before.said} to ${now.said}`);

    edit(cluster, "room.ts", source.replace("({ room, said: ++stats.said })", "({ room, said: ++stats.said, v: 3 }"));
    const bad = await clusterTool(cluster, ["reload", "Room"]);
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stderr, /room\.ts:\d+/);
    assert.equal((await said()).v, 2, "the old code still serves");
    edit(cluster, "room.ts", source);
  });

  test("a supervisor killed with -9 leaves its services serving; a new luanet up adopts them: same PIDs, no duplicates", async () => {
    const before = await ps(cluster);
    const load = roomLoad(cluster);
    await load.waitFor(/load running/, 20_000);
    supervisor.child.kill("SIGKILL");
    await supervisor.exited(10_000);
    await run(1000);
    for (const r of before) assert.ok(alive(r.pid!), `${r.name} (pid ${r.pid}) outlived the supervisor`);
    supervisor = up(cluster);
    await supervisor.waitFor(READY, START_MS);
    const after = await ps(cluster);
    assert.deepEqual(after.map((r) => [r.name, r.pid]), before.map((r) => [r.name, r.pid]), supervisor.stdout);
    assert.doesNotMatch(supervisor.stdout, /: started \(pid/, "nothing was started again");
    for (const r of after) assert.ok(r.adopted, `${r.name} adopted`);
    const ls = await clusterTool(cluster, ["ls"]);
    assert.equal(ls.stdout.match(/^Room-1 /gm)?.length, 1, ls.stdout);
    const tally = await finish(load);
    assert.deepEqual(tally.failed, {}, JSON.stringify(tally));
    // An adopted room that dies is restarted all the same.
    const room = after.find((r) => r.name === "Room-1")!;
    process.kill(room.pid!, "SIGKILL");
    await poll("Room-1 restarted by the new supervisor", async () => {
      const row = (await ps(cluster)).find((r) => r.name === "Room-1")!;
      return row.pid !== room.pid && row.status === "running" ? row : undefined;
    }, 20_000);
  });

  test("luanet scale Room=5 then Room=2 under load: 0 failed calls, and the calls go to the members of the moment", async () => {
    const load = roomLoad(cluster);
    await load.waitFor(/load running/, 20_000);
    const up5 = await clusterTool(cluster, ["scale", "Room=5"], 120_000);
    assert.equal(up5.code, 0, up5.stderr);
    assert.match(up5.stdout, /Room-5: started/);
    assert.deepEqual((await ps(cluster)).filter((r) => r.name.startsWith("Room-")).map((r) => r.name), ["Room-1", "Room-2", "Room-3", "Room-4", "Room-5"]);
    await run(1500);
    const down2 = await clusterTool(cluster, ["scale", "Room=2"], 120_000);
    assert.equal(down2.code, 0, down2.stderr);
    assert.match(down2.stdout, /Room-3: stopped/);
    await run(500);
    const tally = await finish(load);
    assert.deepEqual(tally.failed, {}, JSON.stringify(tally));
    assert.ok((tally.rooms["Room-5"] ?? 0) > 0, `the new rooms took calls: ${JSON.stringify(tally.rooms)}`);
    const rows = await ps(cluster);
    assert.deepEqual(rows.filter((r) => r.name.startsWith("Room-")).map((r) => r.name), ["Room-1", "Room-2"]);
  });

  test("luanet stop drains and stops a service, which stays down; luanet start brings it back", async () => {
    const before = (await ps(cluster)).find((r) => r.name === "Room-2")!;
    const stop = await clusterTool(cluster, ["stop", "Room-2"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`Room-2: stopped \\(pid ${before.pid}\\)`));
    assert.ok(!alive(before.pid!), "its process is gone");
    await run(1500); // longer than the first restart delay: a stopped service is not restarted
    const down = (await ps(cluster)).find((r) => r.name === "Room-2")!;
    assert.equal(down.status, "stopped");
    assert.equal(down.pid, null);
    const start = await clusterTool(cluster, ["start", "Room-2"]);
    assert.equal(start.code, 0, start.stderr);
    const up2 = (await ps(cluster)).find((r) => r.name === "Room-2")!;
    assert.equal(up2.status, "running");
    assert.ok(up2.pid !== null && up2.pid !== before.pid && alive(up2.pid));
  });

  test("SIGTERM to luanet up stops every service, in reverse order, and exits 0", async () => {
    const rows = await ps(cluster);
    const exit = await supervisor.stop(60_000);
    assert.ok(exit, "luanet up exited");
    assert.equal(supervisor.child.exitCode, 0, supervisor.stderr);
    for (const r of rows) assert.ok(!alive(r.pid!), `${r.name} (pid ${r.pid}) is gone`);
    const order = [...supervisor.stdout.matchAll(/^up\s+\| (\S+): stopped$/gm)].map((m) => m[1]);
    assert.deepEqual(order.slice(0, 1), ["Bot"], `the last started is the first stopped: ${order.join(", ")}`);
    assert.deepEqual(order.slice(-1), ["front"], `the first started, the last: ${order.join(", ")}`);
  });
});

describe("crash policy", () => {
  test("a script that throws at start is restarted with backoff, then left down after 5 crashes, as luanet ps shows", async () => {
    const cluster = await clusterDir({
      "luanet.cluster.json": JSON.stringify({ services: { Bad: { script: "bad.ts" } } }),
      "bad.ts": `throw new Error("no config");\n`,
    });
    const supervisor = up(cluster);
    try {
      await supervisor.waitFor(/Bad: exited with code 1; crashed 5 times within a minute: left down/, 60_000);
      assert.match(supervisor.stdout, /restarting in 0\.5 s[\s\S]*restarting in 1 s[\s\S]*restarting in 2 s[\s\S]*restarting in 4 s/);
      const row = (await ps(cluster)).find((r) => r.name === "Bad")!;
      assert.equal(row.status, "failed");
      assert.equal(row.restarts, 4);
      assert.match(supervisor.stdout, /^Bad\s+\| .*no config/m);
    } finally {
      await supervisor.stop(30_000);
    }
  });
});

describe("luanet up --watch", () => {
  test("a change to a file a service imports reloads that service only; a broken edit is reported and the old code serves on", async () => {
    const cluster = await clusterDir({
      "luanet.cluster.json": JSON.stringify({ services: { Hot: { script: "hot.ts" }, Cold: { script: "cold.ts" } } }),
      "hot.ts": service("Hot", `import { answer } from "./answer.js";`, "answer()"),
      "cold.ts": service("Cold", "", `"cold"`),
      "answer.ts": `export const answer = () => "old";\n`,
    });
    const supervisor = up(cluster, ["--watch"]);
    try {
      await supervisor.waitFor(READY, START_MS);
      const get = async (service: string) => JSON.parse((await clusterTool(cluster, ["call", service, "Get"])).stdout) as string;
      assert.equal(await get("Hot"), "old");
      edit(cluster, "answer.ts", `export const answer = () => "new";\n`);
      await supervisor.waitFor(/Hot: reloaded \(generation 2/, 20_000);
      assert.equal(await get("Hot"), "new");
      assert.doesNotMatch(supervisor.stdout, /Cold: .*reloading/);
      edit(cluster, "answer.ts", `export const answer = () => "newer";\nthrow new Error("half-written");\n`);
      await supervisor.waitFor(/Hot: not reloaded, the old code serves on: .*answer\.ts:2/, 20_000);
      assert.equal(await get("Hot"), "new");
    } finally {
      await supervisor.stop(30_000);
    }
  });
});

describe("errors a new user meets", () => {
  test("a cluster file with a wrong field is refused with an error naming the field; exit 1", async () => {
    for (const [file, field] of [
      [{ services: { Room: { script: "room.ts", instances: "3" } } }, /services\.Room\.instances must be a whole number/],
      [{ services: { Room: { script: "nope.ts" } } }, /services\.Room\.script names no file/],
      [{ services: { Room: { script: "room.ts", replicas: 3 } } }, /services\.Room\.replicas is not a field of a service/],
      [{ registry: "etcd:/x", services: { Room: { script: "room.ts" } } }, /registry /],
      [{ services: {} }, /services must be an object with at least one service/],
    ] as const) {
      const cluster = await clusterDir({ "luanet.cluster.json": JSON.stringify(file), "room.ts": "" });
      const r = await runLuanet(["up"], { cwd: cluster.dir, timeoutMs: 20_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, field);
    }
    const none = await clusterDir({ "other.json": "{}" });
    const r = await runLuanet(["up"], { cwd: none.dir, timeoutMs: 20_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no cluster file here/);
  });

  test("the tools say when no supervisor runs, or none runs the target", async () => {
    const ns = await startNameService();
    try {
      const cluster = { dir: process.cwd(), registry: ns.addr };
      const r = await clusterTool(cluster, ["ps"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no supervisor is registered/);
      const c = await clusterDir({ "luanet.cluster.json": JSON.stringify({ registry: ns.addr, services: { One: { script: "one.ts" } } }), "one.ts": service("One", "", "1") });
      const supervisor = up({ dir: c.dir, registry: ns.addr });
      try {
        await supervisor.waitFor(READY, START_MS);
        const missing = await clusterTool(cluster, ["restart", "Nope"]);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /not_found: no supervisor runs "Nope"/);
        const single = await clusterTool(cluster, ["scale", "One=3"]);
        assert.equal(single.code, 1);
        assert.match(single.stderr, /One is a single service: give it "instances"/);
        const usage = await clusterTool(cluster, ["scale", "One"]);
        assert.equal(usage.code, 2);
      } finally {
        await supervisor.stop(30_000);
      }
    } finally {
      await ns.proc.stop(5000);
    }
  });
});
