/**
 * Limits and backpressure, with real processes on 127.0.0.1: a fast sender flooding a slow
 * receiver keeps memory bounded on both sides and loses nothing; callers past the pending-calls
 * limit get `overloaded`; a receiver that stops reading makes SendMsg time out, not hang; a peer
 * that stops answering is dropped after `peerTimeout`, failing its calls `disconnected`.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { lastJson, launch, runClient, slowReceiver, startNameService, startService, type NameService } from "./helpers/cluster.ts";

/** Memory samples a script prints as JSON lines: {"mem": rss bytes}. */
function rssGrowth(stdout: string): { first: number; max: number; samples: number } {
  const rss = stdout.split("\n").filter((l) => l.startsWith('{"mem"')).map((l) => JSON.parse(l).mem as number);
  assert.ok(rss.length >= 3, `too few memory samples: ${rss.length}\n${stdout.slice(0, 2000)}`);
  return { first: rss[0]!, max: Math.max(...rss), samples: rss.length };
}

/** The last JSON line that is not a memory sample: samples go on while Exit waits (up to the
 * shutdown grace) for a slow receiver to read what is still queued. */
const lastResult = (stdout: string) => lastJson(stdout.split("\n").filter((l) => !l.startsWith('{"mem"')).join("\n"));

const MiB = 1024 * 1024;
const sampler = `setInterval(() => console.log(JSON.stringify({ mem: process.memoryUsage().rss })), 100).unref();
console.log(JSON.stringify({ mem: process.memoryUsage().rss }));`;

describe("limits and backpressure", { concurrency: true }, () => {
  let ns: NameService;
  before(async () => {
    ns = await startNameService();
  });

  test("flood: 100,000 messages of 4 KiB (400 MB) to a slow receiver arrive all, in order, with memory bounded on both sides", async (t) => {
    const COUNT = 100_000;
    const sink = await startService(ns, `
      ${sampler}
      luanet.Configure({ mailboxLength: 1000 });
      luanet.StartLocalService("Sink", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
      Sche.Spawn(function* () {
        let next = 0;
        for (;;) {
          const { msg } = yield* luanet.GetMsg<{ seq: number; pad: string }>();
          if (msg.seq !== next) { console.log(JSON.stringify({ outOfOrder: msg.seq, expected: next })); process.exit(1); }
          next++;
          if (next % 100 === 0) yield* Sche.Sleep(1); // a slow consumer
          if (next === ${COUNT}) { console.log(JSON.stringify({ received: next })); luanet.Exit(0); }
        }
      });
    `, { name: "sink.ts" });
    const sender = await runClient(ns, `
      ${sampler}
      luanet.Configure({ sendHighWater: 256 * 1024 });
      export default function* () {
        const pad = "x".repeat(4096);
        for (let seq = 0; seq < ${COUNT}; seq++) {
          const err = yield* luanet.SendMsg("Sink", { seq, pad });
          if (err !== null) { console.log(JSON.stringify({ seq, code: err.code, message: err.message })); process.exit(1); }
        }
        console.log(JSON.stringify({ sent: ${COUNT} }));
        luanet.Exit(0);
      }
    `, { name: "flood.ts", timeoutMs: 60_000 });
    assert.equal(sender.code, 0, sender.stdout + sender.stderr);
    assert.deepEqual(lastResult(sender.stdout), { sent: COUNT });
    const received = await sink.exited(60_000);
    assert.equal(received.code, 0, received.stdout + received.stderr);
    assert.deepEqual(lastResult(received.stdout), { received: COUNT });
    // 400 MB went through; without backpressure one side or the other holds most of it.
    for (const [who, out] of [["sender", sender.stdout], ["receiver", received.stdout]] as const) {
      const { first, max } = rssGrowth(out);
      t.diagnostic(`${who}: rss ${(first / MiB).toFixed(0)} MiB at start, ${(max / MiB).toFixed(0)} MiB at most`);
      assert.ok(max - first < 128 * MiB, `${who}'s rss grew by ${((max - first) / MiB).toFixed(0)} MiB (bound: 128 MiB)`);
    }
  });

  test("a sender that exits right after sending loses nothing its slow receiver has not read yet", async () => {
    const COUNT = 2000;
    // 16 MB: far more than the kernel's socket buffers hold, so most is still queued in the
    // sender's process when it calls Exit.
    const { receiver, sender: source } = slowReceiver("SlowSink", COUNT, "luanet.Exit(0);");
    const sink = await startService(ns, receiver, { name: "slowsink.ts" });
    const sender = await runClient(ns, source, { timeoutMs: 30_000 });
    assert.equal(sender.code, 0, sender.stdout + sender.stderr);
    const received = await sink.exited(30_000);
    assert.deepEqual(lastJson(received.stdout), { received: COUNT }, received.stdout + received.stderr);
  });

  test("calls past maxPendingCalls to one service fail overloaded at once; the others succeed", async () => {
    await startService(ns, `
      luanet.RegRPCFunction("Slow", function* () { yield* Sche.Sleep(1500); return "done"; });
      luanet.StartLocalService("Slowpoke", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    const r = await runClient(ns, `
      luanet.Configure({ maxPendingCalls: 20 });
      export default function* () {
        const t0 = performance.now();
        const first = yield* luanet.RPCCall("Slowpoke", "Slow"); // connects
        const outcomes: { code: string; ms: number }[] = [];
        const tasks = Array.from({ length: 30 }, () => Sche.Spawn(function* () {
          const [, err] = yield* luanet.RPCCall("Slowpoke", "Slow", null, { timeout: 5000 });
          outcomes.push({ code: err?.code ?? "ok", ms: performance.now() - t0 });
        }));
        for (const t of tasks) yield* t;
        console.log(JSON.stringify({ first: first[0], outcomes }));
        luanet.Exit(0);
      }
    `, { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    const { first, outcomes } = lastJson<{ first: string; outcomes: { code: string; ms: number }[] }>(r.stdout);
    assert.equal(first, "done");
    const count = (code: string) => outcomes.filter((o) => o.code === code).length;
    assert.equal(count("ok"), 20, JSON.stringify(outcomes));
    assert.equal(count("overloaded"), 10, JSON.stringify(outcomes));
    // The refused calls came back before any accepted one could finish.
    const firstOk = Math.min(...outcomes.filter((o) => o.code === "ok").map((o) => o.ms));
    for (const o of outcomes.filter((o) => o.code === "overloaded")) assert.ok(o.ms < firstOk, JSON.stringify(outcomes));
  });

  test("a receiver that never reads: SendMsg times out with memory bounded, the paused link is kept alive, and the receiver still answers others", async () => {
    await startService(ns, `
      luanet.Configure({ mailboxLength: 10 });
      luanet.RegRPCFunction("Ping", () => "pong");
      luanet.StartLocalService("Deaf", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    const r = await runClient(ns, `
      ${sampler}
      // peerTimeout shorter than rpcTimeout: only the receiver's PINGs on the paused link keep
      // this connection from being judged dead, which would give "disconnected".
      luanet.Configure({ sendHighWater: 64 * 1024, rpcTimeout: 3000, peerTimeout: 1000 });
      export default function* () {
        const pad = "y".repeat(64 * 1024);
        const t0 = performance.now();
        let sent = 0;
        for (;;) {
          const err = yield* luanet.SendMsg("Deaf", { pad });
          if (err !== null) {
            console.log(JSON.stringify({ sent, code: err.code, message: err.message, ms: performance.now() - t0 }));
            return luanet.Exit(0);
          }
          sent++;
        }
      }
    `, { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = lastResult(r.stdout);
    assert.equal(out.code, "timeout", out.message);
    assert.match(out.message, /has not read/);
    assert.ok(out.sent > 10, `only ${out.sent} messages went before the wait`);
    const { first, max } = rssGrowth(r.stdout);
    assert.ok(max - first < 64 * MiB, `the sender's rss grew by ${((max - first) / MiB).toFixed(0)} MiB`);
    // It stopped reading the flooder's connection only: everyone else is still served.
    const other = await runClient(ns, `
      export default function* () {
        console.log(JSON.stringify(yield* luanet.RPCCall("Deaf", "Ping", null, { timeout: 3000 })));
        luanet.Exit(0);
      }
    `);
    assert.equal(other.code, 0, other.stderr);
    assert.deepEqual(lastJson(other.stdout), ["pong", null]);
  });

  test("a peer that stops answering (SIGSTOP) is dropped after peerTimeout: its pending call fails disconnected long before its deadline", async () => {
    const frozen = await startService(ns, `
      luanet.RegRPCFunction("Echo", (x: unknown) => x);
      luanet.RegRPCFunction("Slow", function* () { yield* Sche.Sleep(60_000); return "late"; });
      luanet.StartLocalService("Frozen", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    // While Frozen runs, the idle connection outlives peerTimeout several times over (its PINGs
    // are answered); then the test stops Frozen and the pending call must end as disconnected.
    const client = launch(ns, `
      luanet.Configure({ peerTimeout: 1000 });
      export default function* () {
        yield* luanet.RPCCall("Frozen", "Echo", 1);
        yield* Sche.Sleep(3000);
        console.log("alive");
        const t0 = performance.now();
        const [, err] = yield* luanet.RPCCall("Frozen", "Slow", null, { timeout: 20_000 });
        console.log(JSON.stringify({ code: err?.code, message: err?.message, ms: performance.now() - t0 }));
        luanet.Exit(0);
      }
    `);
    try {
      await client.waitFor(/^alive$/m, 15_000);
      assert.doesNotMatch(client.stderr, /closed/, "a live peer's idle connection is kept");
      frozen.child.kill("SIGSTOP");
      const r = await client.exited(20_000);
      assert.equal(r.code, 0, r.stderr);
      const out = lastJson(r.stdout);
      assert.equal(out.code, "disconnected", out.message);
      assert.match(out.message, /no answer for \d+ ms/);
      assert.ok(out.ms < 5000, `took ${out.ms} ms`);
    } finally {
      frozen.child.kill("SIGKILL");
    }
  });
});
