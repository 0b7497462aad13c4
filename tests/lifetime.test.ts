/**
 * When a process ends by itself: a script with no service of its own exits once no task can run,
 * whatever connections its tasks opened (the name service link, links to services), with the
 * name service up or down; tasks still blocked then get their finally blocks run; and what was
 * sent to a slow receiver before that arrives whole.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { lastJson, launch, runClient, slowReceiver, startNameService, startService, type NameService } from "./helpers/cluster.ts";
import { etcdMissing, freePorts, startEtcd } from "./helpers/etcd.ts";

/** Start `source`, wait for `printed` on stdout, then for the exit: at most `afterMs` later. */
async function exitsAfter(ns: NameService | string, source: string, printed: RegExp, afterMs = 1500, env?: NodeJS.ProcessEnv) {
  const proc = launch(ns, source, { name: "tool.ts", ...(env ? { env } : {}) });
  await proc.waitFor(printed, 10_000);
  return proc.exited(afterMs);
}

describe("a script with no service of its own", { concurrency: true }, () => {
  let ns: NameService;
  before(async () => {
    ns = await startNameService();
    await startService(ns, `
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.StartLocalService("Adder", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
  });

  test("exits 0 right after GetRemoteFuncProvider answers, though the name service link is open", async () => {
    const r = await exitsAfter(ns, `
      export default function* () { console.log(JSON.stringify(yield* luanet.GetRemoteFuncProvider("Plus"))); }
    `, /\]\n/);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lastJson(r.stdout), [["Adder"], null]);
  });

  test("exits 0 right after one RPCCall, with links to the name service and to the callee open", async () => {
    const r = await exitsAfter(ns, `
      export default function* () { console.log(JSON.stringify(yield* luanet.RPCCall("Adder", "Plus", { a: 1, b: 2 }))); }
    `, /\]\n/);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lastJson(r.stdout), [3, null]);
  });

  test("with the name service down: GetRemoteFuncProvider gives the error as a value, and the script exits 0", async () => {
    const r = await exitsAfter(`127.0.0.1:${(await freePorts(1))[0]}`, `
      export default function* () {
        const [names, err] = yield* luanet.GetRemoteFuncProvider("Plus");
        console.log(JSON.stringify({ names, code: err?.code, message: err?.message }));
      }
    `, /\}\n/);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout);
    assert.equal(out.names, null);
    assert.equal(out.code, "unavailable");
    assert.match(out.message, /name service at 127\.0\.0\.1:\d+ did not answer/);
  });

  test("a task blocked for good when nothing else can run is halted: its finally block runs, exit 0", async () => {
    const r = await exitsAfter(ns, `
      Sche.Spawn(function* () {
        try { yield* Sche.Block(); } finally { console.log("finally ran, stopping=" + luanet.stopping); }
      });
      export default function* () { yield* luanet.RPCCall("Adder", "Plus", { a: 1, b: 2 }); console.log("called"); }
    `, /called\n/);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^finally ran, stopping=true$/m);
  });

  test("messages sent to a slow receiver just before the script ends arrive whole and in order", async () => {
    const COUNT = 1000;
    // 8 MB: most of it is still queued in the sender when its last task ends.
    const { receiver, sender: source } = slowReceiver("SlowInbox", COUNT, "");
    const sink = await startService(ns, receiver, { name: "inbox.ts" });
    const sender = await runClient(ns, source, { timeoutMs: 30_000 });
    assert.equal(sender.code, 0, sender.stderr);
    assert.deepEqual(lastJson(sender.stdout), { sent: COUNT });
    const received = await sink.exited(30_000);
    assert.deepEqual(lastJson(received.stdout), { received: COUNT }, received.stdout + received.stderr);
  });

  test("on etcd too: a look-up and a call, then exit 0 right away (no watch holds the process)", { skip: etcdMissing }, async (t) => {
    const etcd = await startEtcd(1);
    t.after(() => etcd.stop());
    const r = await exitsAfter(ns, `
      export default function* () {
        console.log(JSON.stringify(yield* luanet.GetRemoteFuncProvider("Plus")));
        console.log(JSON.stringify(yield* luanet.RPCCall("Nobody", "Plus")));
      }
    `, /\]\n[^\n]*\]\n/, 1500, { LUANET_REGISTRY: etcd.url });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n").map((l) => JSON.parse(l)), [[[], null], [null, { code: "unavailable", remoteStack: null }]]);
  });
});
