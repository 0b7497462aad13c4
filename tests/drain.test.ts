/**
 * Drain (issue 15, part 4): a service told to stop (SIGTERM) leaves the registry, refuses new calls
 * with `draining`, finishes the calls it runs (within its drain grace), then shuts down as before:
 * its messages are flushed, it exits 143. Real processes around a real name service.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { launch, lastJson, startNameService, startService } from "./helpers/cluster.ts";
import { etcdMissing, startEtcd } from "./helpers/etcd.ts";
import { fixture, startLuanet } from "./helpers/proc.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("SIGTERM with a call in flight: it succeeds, its message arrives, a later call is refused (draining, or unavailable to a fresh caller), and the process exits soon after, long before the grace", async () => {
  const ns = await startNameService();
  const caller = await startService(ns, `
    import { existsSync } from "node:fs";
    luanet.StartLocalService("Caller", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
    export default function* () {
      const got = Sche.Spawn(function* () { return (yield* luanet.GetMsg()).msg; });
      const slow = Sche.Spawn(function* () { return yield* luanet.RPCCall("Slow", "Slow", null, { timeout: 10_000 }); });
      // The test writes GO once Slow drains: the later call is made then, not before (a load).
      const go = new URL("./GO", import.meta.url).pathname;
      for (let i = 0; i < 500 && !existsSync(go); i++) yield* Sche.Sleep(20);
      const [, later] = yield* luanet.RPCCall("Slow", "Plus", { a: 1, b: 2 }, { timeout: 3000 });
      const [ret, err] = yield* slow;
      console.log(JSON.stringify({ slow: [ret, err?.code ?? null], later: later?.code ?? null, msg: yield* got }));
      luanet.Exit(0);
    }
  `, { name: "caller.ts" });
  const svc = await startService(ns, `
    luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
    luanet.RegRPCFunction("Slow", function* () {
      console.log("slow started");
      yield* Sche.Sleep(1500);
      const err = yield* luanet.SendMsg("Caller", "sent while draining");
      return err === null ? "done" : err.code;
    });
    luanet.StartLocalService("Slow", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { name: "slow.ts" });
  await svc.waitFor(/^slow started$/m, 10_000);
  const termAt = performance.now();
  svc.child.kill("SIGTERM");
  await svc.waitFor(/draining: waiting for 1 call\(s\) to finish/, 5000, "stderr");
  writeFileSync(join(caller.dir, "GO"), "");
  // A process that never called it looks the name up: the name service no longer has it.
  const fresh = launch(ns, `
    export default function* () {
      const [, err] = yield* luanet.RPCCall("Slow", "Plus", { a: 1, b: 2 }, { timeout: 5000 }); // (a loaded machine's look-up can take seconds)
      console.log(JSON.stringify(err?.code ?? null));
      luanet.Exit(0);
    }
  `, { name: "fresh.ts" });
  const exit = await svc.exited(8000);
  const tookMs = performance.now() - termAt;
  assert.equal(exit.code, 143, exit.stderr);
  // The handler had about 1.5 s to go; the grace is 10 s.
  assert.ok(tookMs < 4000, `exited ${Math.round(tookMs)} ms after SIGTERM`);
  const out = await caller.exited(10_000);
  // The caller's connection stays open (the name service tells nobody a name left), so its later
  // call reaches the draining service and is refused, unrun.
  assert.deepEqual(lastJson(out.stdout), { slow: ["done", null], later: "draining", msg: "sent while draining" }, out.stderr);
  const late = await fresh.exited(10_000);
  assert.equal(lastJson(late.stdout), "unavailable", late.stderr);
  await ns.proc.stop(5000);
});

test("a group of 3 under steady load: SIGTERM one member, then another: no call fails and the calls go to the members left", async () => {
  const ns = await startNameService();
  const member = (name: string) => startService(ns, `
    luanet.RegRPCFunction("Work", function* () { yield* Sche.Sleep(20); return "${name}"; });
    luanet.StartLocalService("${name}", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
    export default function* () {
      const err = yield* luanet.JoinGroup("Room");
      console.log(err === null ? "joined" : "join failed: " + err.message);
    }
  `, { name: `${name}.ts` });
  const members = [await member("M1"), await member("M2"), await member("M3")];
  for (const m of members) await m.waitFor(/^joined$/m, 10_000);
  const caller = launch(ns, `
    luanet.StartLocalService("Load", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
    export default function* (ms: string) {
      const until = Date.now() + Number(ms);
      const times: Record<string, number[]> = {};
      const failed: string[] = [];
      const tasks = Array.from({ length: 8 }, () => Sche.Spawn(function* () {
        for (let i = 0; i < 5000 && Date.now() < until; i++) {
          const [who, err] = yield* luanet.RPCCall<string>("Room", "Work", null, { timeout: 5000 });
          if (err !== null) failed.push(err.code + ": " + err.message);
          else (times[who] ??= []).push(Date.now());
        }
      }));
      console.log("calling");
      for (const task of tasks) yield* task;
      console.log(JSON.stringify({ times, failed }));
      luanet.Exit(0);
    }
  `, { name: "load.ts", args: ["5000"] });
  await caller.waitFor(/^calling$/m, 10_000);
  await sleep(800);
  const stops: { sent: number; exited: number }[] = [];
  for (const m of members.slice(0, 2)) {
    const sent = Date.now();
    m.child.kill("SIGTERM");
    const exit = await m.exited(8000);
    assert.equal(exit.code, 143, exit.stderr);
    stops.push({ sent, exited: Date.now() });
    await sleep(800);
  }
  const out = await caller.exited(15_000);
  const { times, failed } = lastJson<{ times: Record<string, number[]>; failed: string[] }>(out.stdout);
  assert.deepEqual(failed, [], out.stderr);
  const count = (name: string, from: number, to: number) => (times[name] ?? []).filter((t) => t >= from && t < to).length;
  const [first, second] = stops as [{ sent: number; exited: number }, { sent: number; exited: number }];
  const total = Object.values(times).reduce((n, t) => n + t.length, 0);
  assert.ok(total > 500, `only ${total} calls were made`);
  // Before any stop, all three serve; between the stops, the two left; after both, the last one.
  for (const name of ["M1", "M2", "M3"]) assert.ok(count(name, 0, first.sent) > 20, `${name} served ${count(name, 0, first.sent)} calls before the first stop`);
  for (const name of ["M2", "M3"]) assert.ok(count(name, first.exited, second.sent) > 20, `${name} served ${count(name, first.exited, second.sent)} calls between the stops`);
  assert.equal(count("M1", first.exited + 100, Infinity), 0, "no call answered by M1 after it exited");
  assert.ok(count("M3", second.exited, Infinity) > 20, "M3 serves alone at the end");
  await ns.proc.stop(5000);
});

test("the drain grace ends: a handler still running is halted, its caller gets shutting_down, and the process exits within a few seconds", async () => {
  const ns = await startNameService();
  const svc = await startService(ns, `
    luanet.RegRPCFunction("Forever", function* () { console.log("forever started"); yield* Sche.Sleep(60_000); return "late"; });
    luanet.StartLocalService("Stuck", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { name: "stuck.ts", env: { LUANET_DRAIN_MS: "500" } });
  const caller = launch(ns, `
    export default function* () {
      const [, err] = yield* luanet.RPCCall("Stuck", "Forever", null, { timeout: 20_000 });
      console.log(JSON.stringify(err?.code ?? null));
      luanet.Exit(0);
    }
  `, { name: "caller.ts" });
  await svc.waitFor(/^forever started$/m, 10_000);
  const termAt = performance.now();
  svc.child.kill("SIGTERM");
  const exit = await svc.exited(8000);
  const tookMs = performance.now() - termAt;
  assert.equal(exit.code, 143, exit.stderr);
  assert.ok(tookMs >= 450 && tookMs < 4000, `exited ${Math.round(tookMs)} ms after SIGTERM (grace 500 ms)`);
  assert.match(exit.stderr, /1 call\(s\) still running at the end of the drain grace \(500 ms/);
  const out = await caller.exited(10_000);
  assert.equal(lastJson(out.stdout), "shutting_down", out.stderr);
  await ns.proc.stop(5000);
});

test("a process with no service (a script that only calls) still exits at once on SIGTERM", async () => {
  const ns = await startNameService();
  const script = launch(ns, `
    export default function* () {
      console.log("waiting");
      try { yield* Sche.Sleep(60_000); } finally { console.log("halted, stopping " + luanet.stopping); }
    }
  `, { name: "client.ts" });
  await script.waitFor(/^waiting$/m, 10_000);
  const termAt = performance.now();
  script.child.kill("SIGTERM");
  const exit = await script.exited(5000);
  const tookMs = performance.now() - termAt;
  assert.equal(exit.code, 143, exit.stderr);
  assert.match(exit.stdout, /^halted, stopping true$/m);
  assert.ok(tookMs < 1000, `exited ${Math.round(tookMs)} ms after SIGTERM`);
  await ns.proc.stop(5000);
});

test("on etcd: SIGTERM with a call in flight: the service revokes its lease, the caller's watch sees it go, yet the call in flight succeeds (the caller keeps a connection that still answers)", { skip: etcdMissing }, async () => {
  const etcd = await startEtcd(1);
  try {
    // Not cluster.ts's launch: its LUANET_NS would overrule the script's etcd address.
    const run = (name: string, source: string) => {
      const dir = fixture({ [name]: `import type {} from "luanet/globals";\nimport * as net from "luanet/net";\n${source}` });
      return startLuanet([join(dir, name)], { cwd: dir, env: { ETCD_URL: etcd.url } });
    };
    const svc = run("slow.ts", `
      luanet.RegRPCFunction("Slow", function* () { console.log("slow started"); yield* Sche.Sleep(1500); return "done"; });
      luanet.StartLocalService("EtcdSlow", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(process.env.ETCD_URL!);
    `);
    await svc.waitFor(/registered in etcd at /, 15_000, "stderr");
    const caller = run("caller.ts", `
      luanet.StartLocalService("EtcdCaller", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(process.env.ETCD_URL!);
      export default function* () {
        const [ret, err] = yield* luanet.RPCCall("EtcdSlow", "Slow", null, { timeout: 10_000 });
        yield* Sche.Sleep(1000); // it has exited by now
        const [, again] = yield* luanet.RPCCall("EtcdSlow", "Slow", null, { timeout: 2000 });
        console.log(JSON.stringify({ slow: [ret, err?.code ?? null], again: again?.code ?? null }));
        luanet.Exit(0);
      }
    `);
    await svc.waitFor(/^slow started$/m, 15_000);
    svc.child.kill("SIGTERM");
    const exit = await svc.exited(8000);
    assert.equal(exit.code, 143, exit.stderr);
    const out = await caller.exited(15_000);
    // Once it is gone from etcd, the name resolves to nothing.
    assert.deepEqual(lastJson(out.stdout), { slow: ["done", null], again: "unavailable" }, out.stderr);
  } finally {
    await etcd.stop();
  }
});
