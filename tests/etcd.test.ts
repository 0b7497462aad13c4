/**
 * luanet on etcd, observed from outside: real etcd members (Debian's etcd 3.4) and real luanet
 * processes on 127.0.0.1. Tests that only read and write share one cluster (CI's, from
 * LUANET_TEST_ETCD, or one started here), each under its own key prefix; tests that kill members
 * or all of etcd start their own. Each test skips, saying why, where what it needs is missing: an
 * etcd binary for those that start members of their own, LUANET_TEST_ETCD or an etcd binary for the rest.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { lastJson, poll } from "./helpers/cluster.ts";
import { etcdMissing, etcdUnavailable, startEtcd, type EtcdCluster, type EtcdMember } from "./helpers/etcd.ts";
import { fixture, root, runLuanet, startLuanet, type Running } from "./helpers/proc.ts";

/** What every test script starts with: the globals' types and `net`. */
const prelude = `
import type {} from "luanet/globals";
import * as net from "luanet/net";
void net;
`;

/** "etcd://..." for LUANET_TEST_ETCD given as "http://h:p,http://h:p" or as "etcd://h:p,h:p". */
function etcdUrl(endpoints: string): string {
  return endpoints.startsWith("etcd://") ? endpoints : "etcd://" + endpoints.split(",").map((e) => e.trim().replace(/^https?:\/\//, "")).join(",");
}

/** A registry address of its own under the cluster: its own key prefix. */
const isolated = (url: string) => `${url}/t-${randomBytes(4).toString("hex")}`;

/** Start a script (the prelude is prepended) with LUANET_REGISTRY=registry (null: unset). */
function launch(registry: string | null, source: string, env: NodeJS.ProcessEnv = {}, name = "service.ts"): Running {
  const dir = fixture({ [name]: prelude + source });
  return startLuanet([join(dir, name)], { cwd: dir, env: { LUANET_REGISTRY: registry ?? undefined, ...env } });
}

/** Start a service script and wait (bounded) until it has registered in etcd. */
async function service(registry: string, source: string, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const svc = launch(registry, source, env);
  await svc.waitFor(/registered in etcd at /, 15_000, "stderr");
  return svc;
}

/** A CLI tool against the registry, bounded. */
const tool = (registry: string, args: string[], timeoutMs = 15_000, env: NodeJS.ProcessEnv = {}) =>
  runLuanet([...args, "--registry", registry], { timeoutMs, env });

/** A server of `name` offering Plus (and Echo), registered through the script's usual Register2Name(NS). */
const server = (name: string) => `
luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
luanet.RegRPCFunction("Echo", (x: unknown) => x);
luanet.StartLocalService(${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(net.netaddr_ipv4("127.0.0.1", 8010)); // the script's own address; LUANET_REGISTRY wins
`;

const names = (stdout: string) => stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[0]);

/** The member that leads the cluster now. */
async function leader(cluster: EtcdCluster): Promise<EtcdMember> {
  return poll("an etcd leader", async () => {
    for (const m of cluster.members.filter((m) => m.running)) {
      const res = await fetch(`${m.endpoint}/v3/maintenance/status`, { method: "POST", body: "{}", signal: AbortSignal.timeout(1000) });
      const status = (await res.json()) as { header: { member_id: string }; leader: string };
      if (status.header.member_id === status.leader) return m;
    }
    return undefined;
  }, 10_000);
}

// Three at a time: each test runs several processes that load gRPC, some a cluster of their own,
// beside the rest of the suite on a two-CPU machine.
// The skips are on the tests, not the suite: the runner counts skipped tests, not skipped suites.
describe("luanet on etcd", { concurrency: 3 }, () => {
  let shared: string;
  let own: EtcdCluster | null = null;
  const onShared = { skip: etcdUnavailable };
  const onOwn = { skip: etcdMissing };
  before(async () => {
    if (etcdUnavailable) return;
    if (process.env.LUANET_TEST_ETCD) shared = etcdUrl(process.env.LUANET_TEST_ETCD);
    else shared = (own = await startEtcd(3)).url;
  });
  after(async () => {
    await own?.stop();
  });

  test("the Plus sample runs on etcd unchanged: server, client, luanet ls and call", onShared, async () => {
    const registry = isolated(shared);
    const env = { LUANET_REGISTRY: registry, PLUS_ADDR: "127.0.0.1:0" };
    const srv = startLuanet([join(root, "samples/plus/server.ts")], { env });
    await srv.waitFor(/PlusServer registered in etcd at /, 15_000, "stderr");

    const client = await runLuanet([join(root, "samples/plus/client.ts"), "1"], { env, timeoutMs: 20_000 });
    assert.equal(client.code, 0, client.stderr);
    const m = /(\d+) calls, 0 failed/.exec(client.stdout);
    assert.ok(m !== null && Number(m[1]) > 0, `the client made calls, none failed:\n${client.stdout}`);

    const ls = await tool(registry, ["ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^PlusServer\s+127\.0\.0\.1:\d+\s+tcp\s+Plus\s+\d+/m);
    const call = await tool(registry, ["call", "PlusServer", "Plus", '{"a":40,"b":2}']);
    assert.equal(call.code, 0, call.stderr);
    assert.equal(call.stdout.trim(), "42");
    const send = await tool(registry, ["send", "PlusServer", '{"hello":1}']);
    assert.equal(send.code, 0, send.stderr);
  });

  test("Register2Name(\"etcd://...\") chooses etcd; GetRemoteFuncProvider answers from etcd's index", onShared, async () => {
    const registry = isolated(shared);
    const direct = (name: string, func: string) => `
      luanet.RegRPCFunction(${JSON.stringify(func)}, () => ${JSON.stringify(name)});
      luanet.StartLocalService(${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(process.env.ETCD_URL!);
      export default function* () {
        yield* Sche.Sleep(200);
        luanet.RegRPCFunction("Late", () => "late"); // registered after registration: published too
      }
    `;
    // No LUANET_REGISTRY: the address the script passes decides.
    const env = { ETCD_URL: registry };
    const a = launch(null, direct("A", "Shared"), env);
    const b = launch(null, direct("B", "Shared"), env);
    const c = launch(null, direct("C", "Other"), env);
    for (const s of [a, b, c]) await s.waitFor(/registered in etcd at /, 15_000, "stderr");

    const r = await runLuanet([join(fixture({ "q.ts": prelude + `
      export default function* () {
        const out: Record<string, unknown> = {};
        for (const f of ["Shared", "Other", "Late", "Nobody"]) out[f] = (yield* luanet.GetRemoteFuncProvider(f))[0];
        const [ret, err] = yield* luanet.RPCCall("C", "Late", null, { timeout: 5000 });
        out.call = ret ?? err?.code;
        console.log(JSON.stringify(out));
        process.exit(0);
      }
    ` }), "q.ts")], { env: { LUANET_REGISTRY: registry } });
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.deepEqual(out.Shared, ["A", "B"]);
    assert.deepEqual(out.Other, ["C"]);
    assert.deepEqual(out.Nobody, []);
    assert.equal(out.call, "late");
    // "Late" reaches the index a moment after registration.
    await poll("Late published by all three", async () => {
      const ls = await tool(registry, ["ls"]);
      return (ls.stdout.match(/Late/g) ?? []).length === 3 ? true : undefined;
    });
  });

  test("a name held through etcd is refused to a second process, naming the holder", onShared, async () => {
    const registry = isolated(shared);
    const holder = await service(registry, server("Dup"));

    const rival = launch(registry, server("Dup"));
    const exit = await rival.exited(15_000);
    assert.equal(exit.code, 1, "the rival exits 1");
    assert.match(exit.stderr, new RegExp(`the name "Dup" is held by pid ${holder.child.pid} on \\S+ at 127\\.0\\.0\\.1:\\d+`));

    // A task waiting on Register2Name gets the error itself, with its code.
    const waiting = launch(registry, `
      luanet.StartLocalService("Dup", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      export default function* () {
        const e = yield* luanet.Register2Name(net.netaddr_ipv4("127.0.0.1", 8010));
        console.log(JSON.stringify(e === null ? { registered: true } : { code: e.code, message: e.message }));
        process.exit(0);
      }
    `);
    const w = await waiting.exited(15_000);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(lastJson(w.stdout).code, "name_taken");

    const call = await tool(registry, ["call", "Dup", "Plus", '{"a":1,"b":2}']);
    assert.equal(call.stdout.trim(), "3", "the holder still serves");
    const ls = await tool(registry, ["ls"]);
    assert.deepEqual(names(ls.stdout), ["Dup"]);
    assert.match(ls.stdout, new RegExp(`\\s${holder.child.pid}\\s`));
  });

  test("kill -9: the service leaves callers' look-ups, GetRemoteFuncProvider and luanet ls within its lease time", onShared, async () => {
    const registry = isolated(shared);
    const ttl = 2;
    const srv = await service(registry, server("Doomed"), { LUANET_ETCD_TTL: String(ttl) });
    // The caller kills the server itself and times, in its own clock, how long its look-ups
    // still find the name: once the connection drops, each call looks the name up again, in a
    // cache that etcd's watch keeps current.
    const caller = launch(registry, `
      export default function* () {
        const [, err] = yield* luanet.RPCCall("Doomed", "Plus", { a: 1, b: 2 }, { timeout: 5000 });
        if (err !== null) throw err;
        const [before] = yield* luanet.GetRemoteFuncProvider("Plus"); // now cached, the watch keeps it
        const killed = performance.now();
        process.kill(Number(process.env.VICTIM), "SIGKILL");
        let last = "";
        for (;;) {
          const [, err] = yield* luanet.RPCCall("Doomed", "Plus", { a: 1, b: 2 }, { timeout: 2000 });
          last = err === null ? "ok" : err.code + ": " + err.message;
          if (/no service named/.test(last) || performance.now() - killed > 15000) break;
          yield* Sche.Sleep(20);
        }
        const ms = performance.now() - killed;
        let [after] = yield* luanet.GetRemoteFuncProvider("Plus");
        while (after?.length !== 0 && performance.now() - killed < 15000) {
          yield* Sche.Sleep(20);
          [after] = yield* luanet.GetRemoteFuncProvider("Plus");
        }
        console.log(JSON.stringify({ last, ms, before, after, providersMs: performance.now() - killed }));
        process.exit(0);
      }
    `, { VICTIM: String(srv.child.pid) });
    const r = await caller.exited(30_000);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.last, `unavailable: no service named "Doomed" is registered, and no group of that name has members`);
    assert.ok(out.ms < ttl * 1000 + 2000, `the caller's look-ups found the dead service for ${out.ms} ms (lease ${ttl} s)`);
    assert.deepEqual(out.before, ["Doomed"]);
    assert.deepEqual(out.after, []);
    assert.ok(out.providersMs < ttl * 1000 + 2000, `GetRemoteFuncProvider named the dead service for ${out.providersMs} ms`);
    assert.equal((await srv.exited()).signal, "SIGKILL");

    // By then etcd has dropped it: luanet ls and a new caller agree.
    const ls = await tool(registry, ["ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok(!names(ls.stdout).includes("Doomed"), ls.stdout);
    const call = await tool(registry, ["call", "Doomed", "Plus", "{}"]);
    assert.equal(call.code, 1);
    assert.match(call.stderr, /^luanet: unavailable: no service named "Doomed" is registered/);
  });

  test("a frozen service (SIGSTOP, no reset): a waiting call ends as disconnected when its lease expires", onShared, async () => {
    const registry = isolated(shared);
    const ttl = 2;
    const srv = await service(registry, server("Frozen") + `
      luanet.RegRPCFunction("Stop", function* () {
        yield* Sche.Sleep(50);
        process.kill(process.pid, "SIGSTOP"); // freeze with the caller's call still pending
        return "never";
      });
    `, { LUANET_ETCD_TTL: String(ttl) });
    const r = await runLuanet([join(fixture({ "c.ts": prelude + `
      export default function* () {
        const t0 = performance.now();
        const [ret, err] = yield* luanet.RPCCall("Frozen", "Stop", null, { timeout: 30000 });
        console.log(JSON.stringify({ ret, code: err?.code, message: err?.message, ms: performance.now() - t0 }));
        process.exit(0);
      }
    ` }), "c.ts")], { env: { LUANET_REGISTRY: registry }, timeoutMs: 20_000 });
    srv.child.kill("SIGKILL");
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.code, "disconnected", JSON.stringify(out));
    assert.match(out.message, /Frozen/);
    assert.ok(out.ms < ttl * 1000 + 3000, `the call ended ${out.ms} ms after it began, not at its 30 s deadline`);
  });

  test("one etcd member killed (the leader) while calls and look-ups go on: none fails", onOwn, async (t) => {
    const cluster = await startEtcd(3);
    t.after(() => cluster.stop());
    const registry = cluster.url;
    const srv = await service(registry, server("Steady"));
    // Calls on the open connection, and GetRemoteFuncProvider every 20 ms (from etcd's index, or
    // its cache while the watch on it is up).
    const looper = launch(registry, `
      export default function* () {
        let calls = 0, lookups = 0, failed = 0;
        Sche.Spawn(function* () {
          for (;;) {
            const [who, e] = yield* luanet.GetRemoteFuncProvider("Plus");
            if (who?.join() === "Steady") lookups++;
            else { failed++; console.log(e === null ? "lookup gave " + who.join() : "lookup failed: " + e.message); }
            yield* Sche.Sleep(20);
          }
        });
        for (;;) {
          const [sum, err] = yield* luanet.RPCCall<number>("Steady", "Plus", { a: 1, b: 2 });
          if (err === null && sum === 3) calls++;
          else { failed++; console.log("call failed: " + err?.code + ": " + err?.message); }
          if (calls % 200 === 0) console.log(JSON.stringify({ calls, lookups, failed }));
          yield* Sche.Sleep(1);
        }
      }
    `);
    await looper.waitFor(/"lookups":[1-9]/);

    const victim = await leader(cluster);
    await victim.kill();
    const killed = Date.now();
    // Fresh processes read etcd (their caches are empty), naming the dead member among the others.
    for (let i = 0; i < 2; i++) {
      const call = await tool(registry, ["call", "Steady", "Plus", '{"a":2,"b":2}']);
      assert.equal(call.code, 0, call.stderr);
      assert.equal(call.stdout.trim(), "4");
      const ls = await tool(registry, ["ls"]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(names(ls.stdout), ["Steady"]);
    }
    // Past two lease times, so a lease that was not kept alive would have expired.
    await new Promise((r) => setTimeout(r, Math.max(0, 7000 - (Date.now() - killed))));
    const mark = looper.stdout.length;
    await poll("a progress line after the wait", () => (/\{[^\n]*\}\n/.test(looper.stdout.slice(mark)) ? true : undefined));
    const last = lastJson<{ calls: number; lookups: number; failed: number }>(looper.stdout);
    looper.child.kill("SIGKILL");
    assert.equal(last.failed, 0, looper.stdout.split("\n").filter((l) => !l.startsWith("{")).join("\n"));
    assert.ok(last.calls > 0 && last.lookups > 0, JSON.stringify(last));
    assert.doesNotMatch(srv.stderr, /lost its etcd lease|cannot register/, "the server's registration was never lost");
  });

  test("all of etcd stopped and restarted: bounded unavailable errors, open connections carry on, services re-register", onOwn, async (t) => {
    const cluster = await startEtcd(3);
    t.after(() => cluster.stop());
    const registry = cluster.url;
    const env = { LUANET_ETCD_TIMEOUT_MS: "1000" };
    const srv = await service(registry, server("Survivor"), env);
    const looper = launch(registry, `
      export default function* () {
        for (let i = 0; ; i++) {
          const [sum, err] = yield* luanet.RPCCall<number>("Survivor", "Plus", { a: 1, b: 2 });
          console.log(err === null && sum === 3 ? "call ok" : "call failed: " + err?.code);
          const t0 = performance.now();
          const [who, e] = yield* luanet.GetRemoteFuncProvider("Plus");
          if (e === null) console.log("lookup ok " + who.join());
          else console.log(JSON.stringify({ code: e.code, ms: Math.round(performance.now() - t0) }));
          yield* Sche.Sleep(100);
        }
      }
    `, env);
    await looper.waitFor(/^call ok\nlookup ok Survivor$/m, 15_000);

    await Promise.all(cluster.members.map((m) => m.kill()));
    const down = looper.stdout.length;
    // A new look-up fails with unavailable, promptly.
    const t0 = Date.now();
    const call = await tool(registry, ["call", "Survivor", "Plus", "{}"], 15_000, env);
    assert.equal(call.code, 1);
    assert.match(call.stderr, /^luanet: unavailable: /);
    assert.ok(Date.now() - t0 < 8000, `luanet call gave up after ${Date.now() - t0} ms`);
    // Longer than two lease times (3 s): the server's lease is lost on its side.
    await new Promise((r) => setTimeout(r, 7000));
    const during = looper.stdout.slice(down);
    const failures = during.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { code: string; ms: number });
    assert.ok(failures.length >= 3, `look-ups kept failing during the outage:\n${during}`);
    for (const f of failures) {
      assert.equal(f.code, "unavailable");
      assert.ok(f.ms < 2500, `a look-up took ${f.ms} ms to fail (bound 1000 ms)`);
    }
    assert.doesNotMatch(during, /call failed/, `calls on the open connection never failed:\n${looper.stdout.slice(0, down)}\n---\n${looper.stderr}`);
    assert.match(during, /call ok/);
    await srv.waitFor(/Survivor lost its etcd lease/, 5000, "stderr");

    for (const m of cluster.members) m.start();
    await cluster.ready();
    await srv.waitFor(/Survivor registered in etcd at \S+ again/, 15_000, "stderr");
    const back = looper.stdout.length;
    await poll("look-ups answered again", () => (/^lookup ok Survivor$/m.test(looper.stdout.slice(back)) ? true : undefined), 15_000);
    const ls = await tool(registry, ["ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(names(ls.stdout), ["Survivor"]);
    const again = await tool(registry, ["call", "Survivor", "Plus", '{"a":5,"b":5}']);
    assert.equal(again.stdout.trim(), "10", again.stderr);
    looper.child.kill("SIGKILL");
  });
});
