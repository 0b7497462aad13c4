/**
 * Choosing the registry: --registry and LUANET_REGISTRY over the address a script passes to
 * Register2Name, the name service's default address, and every bad registry address refused with
 * a message that says what is expected. None of this needs etcd to be installed: an etcd address
 * where nothing listens must fail with `unavailable`, promptly.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { lastJson, launch, startNameService, startService } from "./helpers/cluster.ts";
import { freePorts } from "./helpers/etcd.ts";
import { runLuanet, runScript } from "./helpers/proc.ts";

/** A TCP port on 127.0.0.1 where nothing listens (bound, then released). */
const closedPort = async (): Promise<number> => (await freePorts(1))[0]!;

describe("choosing the registry", { concurrency: true }, () => {
  for (const [address, expected] of [
    ["etcd://", /names no etcd member/],
    ["etcd://127.0.0.1:99999", /"127\.0\.0\.1:99999" must be host:port with a port from 1 to 65535/],
    ["etcd://127.0.0.1:2379,", /names no etcd member/],
    ["etcd://127.0.0.1:2379/", /the key prefix must not be "\/" alone/],
    ["bogus", /expected a name service address .* or etcd:\/\/host:port/],
  ] as const) {
    test(`--registry ${address} is a usage error, exit 2`, async () => {
      const r = await runLuanet(["ls", "--registry", address]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, expected);
    });
  }

  test("a bad LUANET_REGISTRY is a usage error too; an empty one is no choice", async () => {
    const bad = await runLuanet(["ls"], { env: { LUANET_REGISTRY: "etcd://nohost" } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /LUANET_REGISTRY|"nohost" must be host:port/);
    const ns = await startNameService();
    const empty = await runLuanet(["ls", "--ns", ns.addr], { env: { LUANET_REGISTRY: "" } });
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /^NAME\s+ADDRESS/);
  });

  test("etcd where nothing listens: ls, call and a script's look-up fail with unavailable, promptly", async () => {
    const registry = `etcd://127.0.0.1:${await closedPort()}`;
    const env = { LUANET_ETCD_TIMEOUT_MS: "1000" };
    for (const args of [["ls"], ["call", "Anyone", "Plus", "{}"]]) {
      const t0 = Date.now();
      const r = await runLuanet([...args, "--registry", registry], { env, timeoutMs: 20_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^luanet: unavailable: (cannot reach etcd|etcd) at 127\.0\.0\.1:\d+/);
      assert.ok(Date.now() - t0 < 10_000, `${args[0]} gave up after ${Date.now() - t0} ms`);
    }
    const r = await runScript(`
      export default function* () {
        const t0 = performance.now();
        const [, err] = yield* luanet.RPCCall("Anyone", "Plus", {}, { timeout: 8000 });
        let thrown = "";
        const [, lookupErr] = yield* luanet.GetRemoteFuncProvider("Plus");
        thrown = lookupErr?.code ?? "";
        console.log(JSON.stringify({ code: err?.code, thrown, ms: performance.now() - t0 }));
        process.exit(0);
      }
    `, { env: { ...env, LUANET_REGISTRY: registry } });
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.code, "unavailable", "not a timeout at the call's 8 s deadline");
    assert.equal(out.thrown, "unavailable");
    assert.ok(out.ms < 5000, `two look-ups took ${out.ms} ms (bound 1000 ms each)`);
  });

  test("Register2Name refuses a bad address with a TypeError that says what it takes", async () => {
    for (const [arg, expected] of [
      ['"etcd://"', /luanet\.Register2Name\(nameaddr\): the etcd address "etcd:\/\/" names no etcd member/],
      ["42", /luanet\.Register2Name\(nameaddr\): nameaddr must come from net\.netaddr_ipv4.* or be an address such as "127\.0\.0\.1:8010" or "etcd:\/\/127\.0\.0\.1:2379", got 42/],
    ] as const) {
      const r = await runScript(`
        import * as net from "luanet/net";
        luanet.StartLocalService("X", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
        try { luanet.Register2Name(${arg} as any); } catch (e) { console.log(String(e)); }
        process.exit(0);
      `);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, expected);
    }
  });

  test("--registry and LUANET_REGISTRY win over the address the script registers at", async () => {
    const ns = await startNameService();
    // The script names a name service where there is none; the environment names the real one.
    const svc = launch("127.0.0.1:1", `
      luanet.RegRPCFunction("Hi", () => "hi");
      luanet.StartLocalService("Pinned", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `, { env: { LUANET_REGISTRY: ns.addr } });
    await svc.waitFor(new RegExp(`Pinned registered with the name service at ${ns.addr.replace(/\./g, "\\.")}`), 10_000, "stderr");
    assert.match(svc.stderr, /not at 127\.0\.0\.1:1 as the script says/);
    const ls = await runLuanet(["ls", "--registry", ns.addr]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^Pinned\s/m);
    const call = await runLuanet(["call", "Pinned", "Hi", "--registry", ns.addr]);
    assert.equal(call.stdout.trim(), '"hi"');
  });

  test("with neither --ns nor LUANET_NS, the tools use the default name service 127.0.0.1:8010", async (t) => {
    const unset = { LUANET_NS: undefined, LUANET_REGISTRY: undefined };
    // A name service of the test's own at the default address, with a service in it: the tools,
    // told no address, must find that service there.
    let ns;
    try {
      ns = await startNameService({ port: 8010 });
    } catch (error) {
      if (!/EADDRINUSE/.test((error as Error).message)) throw error;
      return t.skip("127.0.0.1:8010, the default name service address, is in use by another process");
    }
    await startService(ns, `
      luanet.RegRPCFunction("Hi", () => "hi");
      luanet.StartLocalService("AtTheDefault", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    const ls = await runLuanet(["ls"], { env: unset });
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^AtTheDefault\s+127\.0\.0\.1:\d+\s/m);
    const call = await runLuanet(["call", "AtTheDefault", "Hi"], { env: unset });
    assert.equal(call.code, 0, call.stderr);
    assert.equal(call.stdout.trim(), '"hi"');

    // With nothing there, they fail naming that address, never "undefined".
    ns.proc.child.kill("SIGKILL");
    await ns.proc.exited(5000);
    const gone = await runLuanet(["ls"], { env: unset });
    assert.equal(gone.code, 1, gone.stderr);
    assert.match(gone.stderr, /127\.0\.0\.1:8010/);
    assert.doesNotMatch(gone.stderr, /undefined/);
  });
});
