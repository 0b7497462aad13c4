/**
 * The name service restarts (kill -9, then a new one on the same address) under a steady load of
 * look-ups of names the caller has not used before: every call whose deadline is longer than the
 * recovery succeeds, because services register again as soon as it is back, the new name
 * service holds look-ups of names it does not know yet for its first seconds, and a caller
 * whose name service answered before keeps looking within its deadline while it is away.
 * Also: the registry given on the command line or in the environment wins over the address a
 * script passes to Register2Name, whichever flag names it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { lastJson, launch, startNameService, startService, tool } from "./helpers/cluster.ts";
import { fixture, startLuanet, tempDir } from "./helpers/proc.ts";

const SERVICES = 6;

describe("a name service restart", () => {
  test("look-ups of new names during the restart all succeed within their deadline; GetRemoteFuncProvider too", async () => {
    const goFile = join(tempDir(), "go");
    const first = await startNameService();
    const ns = first.addr;
    const services = await Promise.all(Array.from({ length: SERVICES }, (_, i) => startService(ns, `
      luanet.RegRPCFunction("Which", () => ${i});
      luanet.StartLocalService("Svc${i}", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `, { name: `svc${i}.ts` })));
    // The client first talks to the name service (so it knows it was up), then, once told to go,
    // calls each service by name for the first time, one every 300 ms, and asks for the providers
    // of Which every 50 ms, all with an 8 s deadline.
    const client = launch(ns, `
      import { existsSync } from "node:fs";
      export default function* () {
        luanet.Configure({ rpcTimeout: 8000 });
        const [warm, werr] = yield* luanet.GetRemoteFuncProvider("Which");
        console.log("warm " + (werr === null ? warm.length : werr.code));
        for (const until = Date.now() + 20_000; !existsSync(process.env.GO_FILE!);) {
          if (Date.now() > until) throw new Error("never told to go");
          yield* Sche.Sleep(10);
        }
        const calls: unknown[] = [];
        let lookups = 0, lookupFailures = 0, done = false;
        const looker = Sche.Spawn(function* () {
          while (!done) {
            const [names, err] = yield* luanet.GetRemoteFuncProvider("Which");
            if (err !== null || names.length === 0) { lookupFailures++; console.log("lookup: " + (err?.message ?? "none")); }
            else lookups++;
            yield* Sche.Sleep(50);
          }
        });
        const callers = [];
        for (let i = 0; i < ${SERVICES}; i++) {
          callers.push(Sche.Spawn(function* () {
            const [which, err] = yield* luanet.RPCCall("Svc" + i, "Which", null, { timeout: 8000 });
            calls.push(err === null ? which : err.code + ": " + err.message);
          }));
          yield* Sche.Sleep(300);
        }
        for (const c of callers) yield* c;
        done = true;
        yield* looker;
        console.log(JSON.stringify({ calls, lookups, lookupFailures }));
      }
    `, { name: "client.ts", env: { GO_FILE: goFile } });
    await client.waitFor(new RegExp(`^warm ${SERVICES}$`, "m"), 10_000);
    // Go: the name service dies at once, and a new one takes its address 500 ms later.
    first.proc.child.kill("SIGKILL");
    await first.proc.exited(5000);
    writeFileSync(goFile, "go");
    await new Promise((r) => setTimeout(r, 500));
    const second = await startNameService({ port: first.port });
    const r = await client.exited(30_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = lastJson(r.stdout);
    assert.deepEqual([...out.calls].sort(), Array.from({ length: SERVICES }, (_, i) => i), r.stdout);
    assert.equal(out.lookupFailures, 0, r.stdout);
    assert.ok(out.lookups > 0);
    // Every service is registered at the new name service.
    const ls = await tool(second, ["ls"]);
    for (let i = 0; i < SERVICES; i++) assert.match(ls.stdout, new RegExp(`\\bSvc${i}\\b`), ls.stdout);
    for (const s of services) s.child.kill("SIGKILL");
  });
});

describe("choosing the registry", { concurrency: true }, () => {
  // Nothing listens on 127.0.0.1:1: a service that registered there would never be found.
  const script = `
    import type {} from "luanet/globals";
    import * as net from "luanet/net";
    luanet.RegRPCFunction("Where", () => "here");
    luanet.StartLocalService("Chosen", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(net.netaddr_ipv4("127.0.0.1", 1));
  `;
  for (const how of ["LUANET_NS", "--ns"] as const) {
    test(`${how} wins over the address the script passes to Register2Name`, async () => {
      const ns = await startNameService();
      const dir = fixture({ "chosen.ts": script });
      const file = join(dir, "chosen.ts");
      const svc = how === "LUANET_NS"
        ? startLuanet([file], { cwd: dir, env: { LUANET_NS: ns.addr } })
        : startLuanet(["--ns", ns.addr, file], { cwd: dir, env: { LUANET_NS: undefined } });
      await svc.waitFor(new RegExp(`Chosen registered with the name service at ${ns.addr.replace(/\./g, "\\.")}`), 10_000, "stderr");
      const r = await tool(ns, ["call", "Chosen", "Where"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout), "here");
      svc.child.kill("SIGKILL");
    });
  }
});
