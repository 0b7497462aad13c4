/**
 * Seeing a running cluster (issue 16, items 1 to 3) with real processes: a Plus server under a
 * steady load with one slow function, read with `luanet top --once`, `luanet stats` and
 * `luanet tasks`, and the reserved functions behind them called as any client would.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Exit } from "./helpers/proc.ts";
import { lastJson, poll, runClient, startNameService, startService, tool, type NameService, type Service } from "./helpers/cluster.ts";

let ns: NameService;
let server: Service;
let client: Service;

/** PlusServer: Plus, Slow (100 ms), Hang (a minute), Fail (throws what it is asked to). */
const serverSource = `
import { LuanetError } from "luanet";
luanet.RegRPCFunction("Plus", (a: { a: number; b: number }) => a.a + a.b);
luanet.RegRPCFunction("Slow", function* () { yield* Sche.Sleep(100); return "slow"; });
luanet.RegRPCFunction("Hang", function* () { yield* Sche.Sleep(60_000); return "late"; });
luanet.RegRPCFunction("Fail", (how: string) => {
  if (how === "plain") throw new Error("a plain error");
  throw new LuanetError(how, "failed as asked");
});
luanet.StartLocalService("PlusServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
`;

/** Client: Plus calls paced at 500 a second (a steady load it counts, which a loaded machine still
 * keeps: a rate bounded by the CPU moves with whatever else runs, and top's second would not be the
 * client's), 2 tasks calling Slow; Count answers how many Plus calls it has made, and when;
 * Hang100 starts 100 tasks that call Hang. */
const clientSource = `
luanet.StartLocalService("StatsClient", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
let plus = 0;
luanet.RegRPCFunction("Count", () => ({ plus, time: Date.now() }));
luanet.RegRPCFunction("Hang100", () => {
  for (let i = 0; i < 100; i++) Sche.Spawn(function* () { yield* luanet.RPCCall("PlusServer", "Hang", null, { timeout: 60_000 }); });
  return 100;
});
export default function* () {
  const start = Date.now();
  let sent = 0;
  Sche.Spawn(function* () {
    for (;;) {
      for (const due = Math.floor((Date.now() - start) / 2); sent < due; sent++) Sche.Spawn(function* () {
        const [, err] = yield* luanet.RPCCall("PlusServer", "Plus", { a: 1, b: 2 });
        if (err === null) plus++;
      });
      yield* Sche.Sleep(5);
    }
  });
  for (let i = 0; i < 2; i++) Sche.Spawn(function* () { for (;;) yield* luanet.RPCCall("PlusServer", "Slow", null); });
  for (;;) yield* Sche.Sleep(1000);
}
`;

function call(service: string, func: string, json?: string): Promise<Exit> {
  return tool(ns, ["call", service, func, ...(json === undefined ? [] : [json])]);
}

before(async () => {
  ns = await startNameService();
  server = await startService(ns, serverSource, { name: "server.ts" });
  client = await startService(ns, clientSource, { name: "client.ts" });
});
after(async () => {
  await Promise.all([client?.stop(5000), server?.stop(5000)]);
  await ns?.proc.stop(5000);
});

describe("luanet top", { concurrency: 1 }, () => {
  test("--once --json: the slow function's p99, and Plus calls/s within 10% of what the client counted", async () => {
    // Two seconds of load first, so Slow has calls in the last 10 s.
    await poll("a few Slow calls", async () => {
      const r = await tool(ns, ["stats", "PlusServer", "--json"]);
      return r.code === 0 && JSON.parse(r.stdout).funcs.Slow?.total.count >= 10 ? true : undefined;
    }, 15_000, 200);
    const c0 = JSON.parse((await call("StatsClient", "Count")).stdout);
    const r = await tool(ns, ["top", "--once", "--json", "--interval", "2000"], 15_000);
    const c1 = JSON.parse((await call("StatsClient", "Count")).stdout);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.interval, 2000);
    const row = doc.services.find((s: { service: string }) => s.service === "PlusServer");
    assert.ok(row, `no PlusServer row: ${r.stdout}`);
    assert.equal(row.error, null);
    assert.equal(row.slowest, "Slow");
    assert.ok(row.p99 >= 100 && row.p99 < 200, `Slow's p99 ${row.p99} ms (it sleeps 100 ms)`);
    assert.ok(row.funcs.Plus.p99 < row.p99, "Plus is faster than Slow");
    const counted = (c1.plus - c0.plus) / ((c1.time - c0.time) / 1000);
    const shown = row.funcs.Plus.callsPerSec;
    assert.ok(counted > 400, `the client made ${counted} calls/s`);
    assert.ok(Math.abs(shown - counted) / counted <= 0.1, `top shows ${shown} Plus calls/s, the client counted ${counted}`);
    assert.ok(row.rss > 0 && row.cpu !== null && row.cpu >= 0, JSON.stringify(row));
    const clientRow = doc.services.find((s: { service: string }) => s.service === "StatsClient");
    assert.ok(clientRow.tasks >= 3, `the client has its pacer and 2 Slow tasks: ${clientRow.tasks}`);
  });

  test("--once prints one table, sorted by the key asked for", async () => {
    const r = await tool(ns, ["top", "--once", "--sort", "p99", "--interval", "500"], 15_000);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0]!, /^SERVICE\s+CALLS\/S\s+ERRORS\/S\s+P99\s+SLOWEST/);
    assert.match(lines[1]!, /^PlusServer\s+\S+\s+\S+\s+1\d\d\.\dms\s+Slow\s/, r.stdout);
    assert.ok(lines.some((l) => l.startsWith("StatsClient ")), r.stdout);
    assert.doesNotMatch(r.stdout, /\x1b/, "no terminal control when stdout is not a terminal");
  });

  test("a bad sort key is a usage error", async () => {
    const r = await tool(ns, ["top", "--sort", "speed"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Allowed choices are name, calls, errors, p99/);
  });
});

describe("luanet stats", { concurrency: 1 }, () => {
  test("counts every error code provoked, by function, and calls to functions it does not have", async () => {
    for (const how of ["bad_credentials", "bad_credentials", "not_yours", "plain"]) {
      const r = await call("PlusServer", "Fail", JSON.stringify(how));
      assert.equal(r.code, 1);
    }
    assert.equal((await call("PlusServer", "NoSuchThing")).code, 1);
    await tool(ns, ["call", "PlusServer", "luanet.stats"]); // (not counted: the tools' own)
    // BusyServer runs one call at a time and queues one more: the rest are refused "overloaded".
    const busy = `
      export default function* () {
        const tasks = [];
        for (let i = 0; i < 5; i++) tasks.push(Sche.Spawn(function* () { return yield* luanet.RPCCall("BusyServer", "Busy", null); }));
        const codes = [];
        for (const t of tasks) { const [, err] = yield* t; codes.push(err === null ? "ok" : err.code); }
        console.log(JSON.stringify(codes));
        luanet.Exit(0);
      }`;
    const busyServer = await startService(ns, `
      luanet.Configure({ maxConcurrentHandlers: 1, handlerQueue: 1 });
      luanet.RegRPCFunction("Busy", function* () { yield* Sche.Sleep(300); return "done"; });
      luanet.StartLocalService("BusyServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);`, { name: "busy.ts" });
    try {
      const codes = lastJson<string[]>((await runClient(ns, busy)).stdout);
      assert.deepEqual([...codes].sort(), ["ok", "ok", "overloaded", "overloaded", "overloaded"]);
      const b = JSON.parse((await tool(ns, ["stats", "BusyServer", "--json"])).stdout);
      assert.equal(b.funcs.Busy.calls, 5);
      assert.deepEqual(b.funcs.Busy.errors, { overloaded: 3 });
      assert.equal(b.handlers.maxRunning, 1);
    } finally {
      await busyServer.stop(5000);
    }
    const r = await tool(ns, ["stats", "PlusServer", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.v, 1);
    assert.equal(doc.service, "PlusServer");
    assert.equal(doc.pid, server.child.pid);
    assert.equal(doc.counting, true);
    assert.deepEqual(doc.funcs.Fail.errors, { bad_credentials: 2, not_yours: 1, remote_error: 1 });
    assert.equal(doc.funcs.Fail.calls, 4);
    assert.equal(doc.unknownCalls, 1);
    assert.equal(doc.funcs["luanet.stats"], undefined, "the tools' calls are not counted with the service's");
    assert.ok(doc.funcs.Plus.calls > 100, String(doc.funcs.Plus.calls));
    assert.deepEqual(doc.funcs.Plus.errors, {});
    const peer = doc.peers.StatsClient;
    assert.ok(peer.callsIn >= doc.funcs.Plus.calls, JSON.stringify(peer));
    assert.ok(peer.bytesIn > 0 && peer.bytesOut > 0 && peer.connected === true, JSON.stringify(peer));
    assert.ok(doc.process.rss > 0 && doc.process.heapUsed > 0 && doc.process.eventLoop.seconds > 0, JSON.stringify(doc.process));

    const table = await tool(ns, ["stats", "PlusServer"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^Fail\s+4\s+4 \(bad_credentials 2, not_yours 1, remote_error 1\)/m);
    assert.match(table.stdout, /^Slow\s+\d+\s+0\s+\d+\s+10\d\.\dms/m);
    assert.match(table.stdout, /calls to functions it does not have: 1/);
    assert.match(table.stdout, /^StatsClient\s+\d+\s+\d+/m);
  });

  test("a service with no such name, and bad options to luanet.stats, are clear errors", async () => {
    const r = await tool(ns, ["stats", "Nobody", "--timeout", "1000"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /luanet: unavailable: .*Nobody/);
    const bad = await call("PlusServer", "luanet.stats", '{"histo":true}');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad_request: luanet\.stats: unknown option "histo"/);
    const hist = JSON.parse((await call("PlusServer", "luanet.stats", '{"histogram":true}')).stdout);
    const buckets: [number, number][] = hist.funcs.Slow.buckets;
    assert.equal(buckets.reduce((n, [, k]) => n + k, 0), hist.funcs.Slow.total.count);
    assert.ok(buckets.every(([upper]) => upper >= 100), "every Slow call took at least 100 ms");
  });
});

describe("luanet tasks", { concurrency: 1 }, () => {
  test("lists all 100 tasks blocked in RPCCall, with what they wait on", async () => {
    assert.equal((await call("StatsClient", "Hang100")).code, 0);
    const doc = await poll("100 tasks in RPCCall PlusServer.Hang", async () => {
      const r = await tool(ns, ["tasks", "StatsClient", "--json"]);
      const d = JSON.parse(r.stdout);
      return d.tasks.filter((t: { waitingOn: string }) => t.waitingOn === "RPCCall PlusServer.Hang").length === 100 ? d : undefined;
    }, 10_000, 200);
    assert.equal(doc.service, "StatsClient");
    assert.equal(doc.pid, client.child.pid);
    const hangs = doc.tasks.filter((t: { waitingOn: string }) => t.waitingOn === "RPCCall PlusServer.Hang");
    assert.ok(hangs.every((t: { state: string; waitingMs: number }) => t.state === "suspended" && t.waitingMs >= 0), JSON.stringify(hangs[0]));
    assert.equal(new Set(hangs.map((t: { id: number }) => t.id)).size, 100, "100 different tasks");
    const r = await tool(ns, ["tasks", "StatsClient"]);
    assert.equal(r.code, 0, r.stderr);
    const hung = r.stdout.split("\n").filter((l) => /^\d+\s+task\s+suspended\s+RPCCall PlusServer\.Hang\s+\d+(ms|\.\ds)$/.test(l));
    assert.equal(hung.length, 100, r.stdout);
    assert.match(r.stdout, /^\d+\s+task\s+suspended\s+sleep\(5\)\s+\d+ms$/m); // the pacer
    // The server's side: 100 handlers asleep in Hang's Sleep(60000).
    const s = JSON.parse((await tool(ns, ["stats", "PlusServer", "--json"])).stdout);
    assert.equal(s.funcs.Hang.inFlight, 100);
    assert.ok(s.tasks.waiting.sleep >= 100, JSON.stringify(s.tasks));
    assert.equal(s.peers.StatsClient.inFlight, 0);
    const c = JSON.parse((await tool(ns, ["stats", "StatsClient", "--json"])).stdout);
    assert.ok(c.peers.PlusServer.inFlight >= 100, JSON.stringify(c.peers.PlusServer));
    assert.ok(c.tasks.waiting.rpc >= 100, JSON.stringify(c.tasks));
  });

  test("--limit keeps the longest waiting; --stacks shows where tasks spawned after it was asked were spawned", async () => {
    const r = await tool(ns, ["tasks", "StatsClient", "--limit", "3", "--json"]);
    const d = JSON.parse(r.stdout);
    assert.equal(d.tasks.length, 3);
    assert.ok(d.total > 100);
    assert.ok(d.tasks[0].waitingMs >= d.tasks[1].waitingMs && d.tasks[1].waitingMs >= d.tasks[2].waitingMs);
    const first = await tool(ns, ["tasks", "StatsClient", "--stacks", "--limit", "1"]);
    assert.match(first.stdout, /spawn stacks are being recorded for a minute/);
    assert.equal((await call("StatsClient", "Hang100")).code, 0); // 100 more, spawned while recording
    const again = JSON.parse((await tool(ns, ["tasks", "StatsClient", "--stacks", "--json", "--limit", "20000"])).stdout);
    const hangs = again.tasks.filter((t: { waitingOn: string }) => t.waitingOn === "RPCCall PlusServer.Hang");
    assert.equal(hangs.length, 200);
    const stacked = hangs.filter((t: { stack?: string }) => t.stack !== undefined);
    assert.equal(stacked.length, 100, "the 100 Hang tasks spawned since, and not the 100 before");
    assert.match(stacked[0].stack, /client\.ts/);
    const bad = await tool(ns, ["tasks", "StatsClient", "--limit", "0"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--limit.*whole number from 1 to 20000/);
    const badCall = await call("StatsClient", "luanet.tasks", '{"limit":"all"}');
    assert.match(badCall.stderr, /bad_request: luanet\.tasks: limit must be a number/);
  });
});
