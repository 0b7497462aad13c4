/**
 * Typed calls (issue 14, item 5): the typed sample runs, and the typed API checks what it is given.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { root, runLuanet, runScript } from "./helpers/proc.ts";

test("the typed sample: a room started with NewService, called through luanet.Client<Room>", async () => {
  const r = await runLuanet([join(root, "samples/typed/main.ts")], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "ann has seat 1\nbob has seat 2\nplayers: ann, bob\n");
  assert.match(r.stderr, /\[room1\] INFO someone says hello/);
});

test("a client is never taken for a promise, its methods are luanet.RPCCall, and RegRPCFunctions checks its argument", async () => {
  const r = await runScript(`
    import * as net from "luanet/net";
    luanet.StartLocalService("Typed", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.RegRPCFunctions({ Twice: (n: number) => n * 2, Slow: function* () { yield* Sche.Sleep(500); return 1; } });
    export default function* () {
      const c = luanet.Client<{ Twice(n: number): number; Slow(): number; Nope(): void }>("Typed");
      const out: unknown[] = [(c as unknown as { then?: unknown }).then === undefined, c.Twice === c.Twice];
      out.push(yield* c.Twice(21));
      out.push((yield* c.Slow(null, { timeout: 50 }))[1]?.code);
      out.push((yield* c.Nope())[1]?.code);
      for (const bad of [null, 5]) {
        try { luanet.RegRPCFunctions(bad as never); } catch (e) { out.push((e as Error).constructor.name); }
      }
      try { luanet.RegRPCFunctions({ F: 5 } as never); } catch (e) { out.push((e as Error).constructor.name); }
      try { luanet.Client(""); } catch (e) { out.push((e as Error).constructor.name); }
      console.log(JSON.stringify(out));
      luanet.Exit(0);
    }
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), [true, true, [42, null], "timeout", "no_such_function", "TypeError", "TypeError", "TypeError", "TypeError"]);
});
