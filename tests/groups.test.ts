/**
 * Service groups (issue 14) with real processes: three members of "Room" (then a fourth), each a
 * process of its own, and a caller that goes through the acceptance list (tests/fixtures/groups/
 * caller.ts prints one JSON line per check). Once on the built-in name service, once on etcd.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startNameService, type NameService } from "./helpers/cluster.ts";
import { etcdUnavailable, startEtcd, type EtcdCluster } from "./helpers/etcd.ts";
import { fixture, root, runLuanet, startLuanet, type Running } from "./helpers/proc.ts";

const fixtures = join(root, "tests/fixtures/groups");
type Check = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Registry {
  /** The environment that points a script at it. */
  env: NodeJS.ProcessEnv;
  /** The address `luanet ls` and `call` take. */
  addr: string;
  stop(): Promise<void>;
}

async function nameService(): Promise<Registry> {
  const ns: NameService = await startNameService({ env: { LUANET_NS_RECOVERY_MS: "0" } });
  return { env: { LUANET_NS: ns.addr }, addr: ns.addr, stop: async () => void (await ns.proc.stop(5000)) };
}

async function etcd(): Promise<Registry> {
  let own: EtcdCluster | null = null;
  const shared = process.env.LUANET_TEST_ETCD;
  const url = shared ? "etcd://" + shared.split(",").map((e) => e.trim().replace(/^https?:\/\//, "")).join(",") : (own = await startEtcd(1)).url;
  const addr = `${url}/groups-${randomBytes(4).toString("hex")}`;
  return { env: { LUANET_REGISTRY: addr, LUANET_ETCD_TTL: "2" }, addr, stop: async () => void (await own?.stop()) };
}

const share = (counts: Record<string, number>, room: string) => (counts[room] ?? 0) / Object.values(counts).reduce((a, b) => a + b, 0);

for (const [label, open, skip] of [["the name service", nameService, false], ["etcd", etcd, etcdUnavailable]] as const) {
  describe(`a group of rooms on ${label}`, { skip }, () => {
    let registry: Registry;
    const procs: Running[] = [];
    let checks: Map<string, Check>;
    let namer: Check;
    const start = (script: string, args: string[] = []) => {
      const proc = startLuanet([join(fixtures, script), ...args], { cwd: fixture({}), env: registry.env });
      procs.push(proc);
      return proc;
    };
    before(async () => {
      registry = await open();
      const rooms = ["Room1", "Room2", "Room3"].map((name) => start("room.ts", [name]));
      await Promise.all(rooms.map((room) => room.waitFor(/registered (with|in) /, 20_000, "stderr")));
      const caller = start("caller.ts");
      await caller.waitFor(/"need":"Room4"/, 90_000);
      start("room.ts", ["Room4"]);
      const r = await caller.exited(90_000);
      assert.equal(r.code, 0, `caller.ts exited ${r.code ?? r.signal}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`);
      checks = new Map(r.stdout.split("\n").filter((l) => l.startsWith('{"check"')).map((l) => JSON.parse(l) as Check).map((c) => [c.check, c]));
      const n = await start("namer.ts").exited(30_000);
      namer = JSON.parse(n.stdout.split("\n").find((l) => l.includes('"check":"namer"')) ?? "null");
    });
    after(async () => {
      for (const proc of procs) await proc.stop(5000);
      await registry?.stop();
    });
    const check = (name: string): Check => {
      const found = checks.get(name);
      assert.ok(found !== undefined, `the caller printed no check "${name}"`);
      return found;
    };

    test("GetGroupMembers lists the three members, sorted", () => {
      assert.deepEqual(check("members").members, ["Room1", "Room2", "Room3"]);
    });

    test("10,000 calls round-robin land within 1% of even", (t) => {
      const { counts } = check("round-robin");
      t.diagnostic(`round-robin: ${JSON.stringify(counts)}`);
      assert.deepEqual(Object.keys(counts).sort(), ["Room1", "Room2", "Room3"], "no errors");
      for (const n of Object.values(counts) as number[]) assert.ok(Math.abs(n - 10_000 / 3) <= 10_000 / 3 / 100, `${n} of 10,000`);
    });

    test("least-pending sends a member that takes 20 ms a call clearly less than a third", (t) => {
      const { counts } = check("least-pending");
      const slow = share(counts, "Room3");
      t.diagnostic(`least-pending, 30 tasks, 900 calls: ${JSON.stringify(counts)}; the slow member's share ${(slow * 100).toFixed(1)}%`);
      assert.equal(Object.keys(counts).filter((k) => k.startsWith("error")).length, 0, JSON.stringify(counts));
      assert.ok(slow < 0.2, `the slow member took ${(slow * 100).toFixed(1)}% of the calls`);
    });

    test("1,000 keys keep their member over 10 calls each; a fourth member takes 15-35% of them, and only those move", (t) => {
      const { stable, rounds, moved, movedTo, rooms } = check("keys");
      t.diagnostic(`a fourth member moved ${moved} of 1,000 keys`);
      assert.deepEqual(rooms, ["Room1", "Room2", "Room3"], "the keys spread over all three");
      assert.equal(stable, rounds * 1000, "every key went to the same member every time");
      assert.ok(moved >= 150 && moved <= 350, `${moved} keys moved`);
      assert.deepEqual(movedTo, ["Room4"], "keys move only to the member that joined");
    });

    test("LeaveGroup under load: no call fails, and none reaches the member once it has left", () => {
      const { leaveCode, during, after } = check("leave");
      assert.equal(leaveCode, null);
      assert.equal(Object.keys(during).filter((k) => k.startsWith("error")).length, 0, JSON.stringify(during));
      assert.ok((during.Room4 ?? 0) > 0, "Room4 took calls before it left");
      assert.deepEqual(Object.keys(after).sort(), ["Room1", "Room2", "Room3"]);
    });

    test("SIGKILL under load: calls end well or disconnected; once the registry notices, none goes to the dead member", (t) => {
      const { during, noticed, after } = check("sigkill");
      t.diagnostic(`while Room2 was killed: ${JSON.stringify(during)}`);
      for (const key of Object.keys(during)) assert.ok(/^Room[123]$|^error disconnected$/.test(key), `unexpected outcome ${key}: ${JSON.stringify(during)}`);
      assert.ok((during.Room1 ?? 0) > 0 && (during.Room3 ?? 0) > 0);
      assert.deepEqual(noticed, ["Room1", "Room3"]);
      assert.deepEqual(Object.keys(after).sort(), ["Room1", "Room3"], "nothing is sent to Room2, and nothing fails");
    });

    test("SIGKILL under load with idempotent calls: every call succeeds on the others", (t) => {
      const { rejoin, during, noticed } = check("sigkill idempotent");
      t.diagnostic(`while Room1 was killed: ${JSON.stringify(during)}`);
      assert.equal(rejoin, null);
      for (const key of Object.keys(during)) assert.ok(/^Room[134]$/.test(key), `unexpected outcome ${key}: ${JSON.stringify(during)}`);
      assert.deepEqual(noticed, ["Room3", "Room4"]);
    });

    test("Broadcast reaches every live member once and names the dead one", () => {
      const { sent, failed, err, delivered } = check("broadcast");
      assert.equal(err, null);
      assert.deepEqual(sent, ["Room4"]);
      assert.equal(failed.length, 1, JSON.stringify(failed));
      assert.equal(failed[0].name, "Room3");
      assert.match(failed[0].code, /^(unavailable|disconnected)$/, "refused, or its connection found closed as the message went out");
      assert.equal(delivered, 1);
    });

    test("SendMsg to a group reaches one member; a name that is neither a service nor a group is unavailable", () => {
      const { sendErr, sentOne, nothing } = check("misc");
      assert.equal(sendErr, null);
      assert.equal(sentOne, 1);
      assert.equal(nothing.code, "unavailable");
      assert.match(nothing.message, /no service named "NoSuchName" is registered, and no group of that name has members/);
    });

    test("a group and a service never share a name: both ways are refused with name_taken", () => {
      const { tryJoin } = check("misc");
      assert.equal(tryJoin?.code, "name_taken");
      assert.match(tryJoin.message, /cannot join the group "Caller"/);
      assert.equal(namer?.code, "name_taken", JSON.stringify(namer));
      assert.match(namer.message, /the name "Room" is a group's/);
    });

    test("luanet call reaches a member of the group by the group's name", async () => {
      const r = await runLuanet(["call", "Room", "Join", "null", "--registry", registry.addr], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"room":\s*"Room4"/);
    });
  });
}
