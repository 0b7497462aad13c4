/**
 * The stats kernel in-process (issue 16, item 1): the latency histogram's buckets and
 * percentiles against exact ones, the 10-second window, the bounds on the counters' tables, and
 * how `luanet top` turns two samples into rates.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { bucketOf, bucketTop, BUCKETS, Histogram, Window, WINDOW_SECONDS } from "../runtime/stats/histogram.ts";
import { FuncCounters, MAX_CODES, MAX_PEERS, OTHER_PEERS, SAMPLE_EVERY, CHECK_MS, ServiceCounters, UNNAMED_PEER, UNTIMED, countingFrom } from "../runtime/stats/counters.ts";
import { rowOf, sortRows } from "../runtime/stats/rates.ts";
import type { StatsDocument } from "../runtime/stats/snapshot.ts";
import { bytes, ms } from "../runtime/stats/format.ts";

describe("histogram buckets", () => {
  test("every value falls in the bucket whose range holds it; buckets are in order", () => {
    fc.assert(fc.property(fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 0xffff_ffff })), (us) => {
      const b = bucketOf(us);
      assert.ok(b >= 0 && b < BUCKETS);
      assert.ok(us <= bucketTop(b), `${us} <= top of ${b}`);
      if (b > 0) assert.ok(us > bucketTop(b - 1), `${us} > top of ${b - 1}`);
    }), { numRuns: 5000 });
    assert.equal(bucketTop(BUCKETS - 1), 0xffff_ffff);
    assert.equal(bucketOf(2 ** 40), BUCKETS - 1);
    assert.equal(bucketOf(-5), 0);
  });

  test("a bucket is at most 1/16 of its values wide: percentiles within 6.25% of the exact ones", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5_000_000 }), { minLength: 1, maxLength: 500 }), fc.double({ min: 0.01, max: 1, noNaN: true }), (values, q) => {
      const h = new Histogram();
      for (const v of values) h.record(v);
      const sorted = [...values].sort((a, b) => a - b);
      const exact = sorted[Math.max(1, Math.ceil(q * values.length)) - 1]!;
      const got = h.quantile(q);
      assert.ok(got >= exact && got <= Math.max(exact * 1.0625, exact + 1), `q${q}: ${got} vs exact ${exact}`);
      assert.equal(h.max, sorted.at(-1));
      assert.equal(h.count, values.length);
    }), { numRuns: 300 });
  });

  test("latency() reads in milliseconds", () => {
    const h = new Histogram();
    for (let i = 1; i <= 100; i++) h.record(i * 1000); // 1..100 ms
    const l = h.latency();
    assert.equal(l.count, 100);
    assert.ok(l.p50 >= 50 && l.p50 <= 52, String(l.p50));
    assert.ok(l.p99 >= 99 && l.p99 <= 100, String(l.p99));
    assert.equal(l.max, 100);
    assert.equal(l.sum, 5050);
    assert.deepEqual(new Histogram().latency(), { count: 0, p50: 0, p90: 0, p99: 0, max: 0, sum: 0 });
  });
});

describe("the 10-second window", () => {
  test("recent() holds the last WINDOW_SECONDS seconds; total holds everything", () => {
    const w = new Window();
    w.record(1000, 500); // second 0
    w.record(2000, 5_500); // second 5
    assert.equal(w.recent(9_999).count, 2);
    assert.equal(w.recent(10_000).count, 1, "second 0 is out of the window at 10 s");
    w.record(3000, 25_000); // second 25 reuses slot 5 (25 % 10): the old second is cleared
    const recent = w.recent(25_000);
    assert.equal(recent.count, 1);
    assert.equal(recent.max, 3000);
    assert.equal(w.total.count, 3);
    assert.equal(w.recent(25_000 + WINDOW_SECONDS * 1000).count, 0, "an idle function's window empties");
  });
});

describe("counters are bounded", () => {
  test("a function keeps at most MAX_CODES codes, 'other' among them, where the rest count", () => {
    const f = new FuncCounters("F");
    for (let i = 0; i < MAX_CODES + 50; i++) f.error(`code_${i}`);
    f.error("code_0");
    assert.equal(f.errors.size, MAX_CODES);
    assert.equal(f.errors.get("code_0"), 2);
    assert.equal(f.errors.get("other"), 50 + 1);
    assert.equal([...f.errors.values()].reduce((a, b) => a + b, 0), MAX_CODES + 51);
  });

  test("at most MAX_PEERS peers, the last of them (others), where the rest count; a nameless process is (unnamed)", () => {
    const s = new ServiceCounters(true);
    for (let i = 0; i < MAX_PEERS + 10; i++) s.peer(`P${i}`).callsIn++;
    assert.equal(s.peers.size, MAX_PEERS);
    assert.equal(s.peer(`P${MAX_PEERS + 3}`).name, OTHER_PEERS);
    assert.equal(s.peer("P0").callsIn, 1);
    const others = s.peer("someone new");
    assert.equal(others.name, OTHER_PEERS);
    assert.ok(others.callsIn >= 10);
    assert.equal(new ServiceCounters(true).peer(null).name, UNNAMED_PEER);
  });

  test("a busy function's calls are timed one in SAMPLE_EVERY, each standing for that many; an idle one's every call", async () => {
    const f = new ServiceCounters(true).func("Plus")!;
    f.done(f.start(), null);
    let untimed = 0;
    let calls = 1;
    // More than BUSY_PER_SECOND calls a second for 3 CHECK_MS: busy from the second check on.
    for (const until = performance.now() + 3 * CHECK_MS; performance.now() < until;) {
      for (let i = 0; i < 100; i++, calls++) {
        new ServiceCounters(true); // (a little work between calls)
        const g = (f.calls++, f.inFlight++, f.start());
        if (g === UNTIMED) untimed++;
        f.done(g, null);
      }
    }
    assert.equal(f.calls, calls);
    assert.equal(f.inFlight, 0);
    assert.ok(untimed > 0, "some calls were not timed");
    assert.ok(untimed < calls, "some were");
    // Every timed call of the busy part stands for SAMPLE_EVERY: the histogram's count is the calls', about.
    const counted = f.latency.total.count;
    assert.ok(Math.abs(counted - calls) <= calls * 0.05 + SAMPLE_EVERY * 2, `the histogram counts ${counted} of ${calls} calls`);
    // Quiet: a check (on one of every SAMPLE_EVERY calls) that finds fewer than BUSY_PER_SECOND
    // calls a second since the one before ends it; the first check after the load still counts
    // the load's last calls, the next one does not. Then every call is timed alone.
    for (let round = 0; round < 2; round++) {
      await new Promise((r) => setTimeout(r, CHECK_MS + 20));
      for (let i = 0; i < SAMPLE_EVERY; i++) {
        f.calls++;
        f.start();
      }
    }
    f.calls++;
    assert.ok(f.start() > 0, "timed alone");
  });

  test("calls are counted per function unless LUANET_STATS turns them off", () => {
    const on = new ServiceCounters(true);
    const f = on.func("Plus")!;
    assert.equal(f.calls, 1);
    assert.equal(f.inFlight, 1);
    f.done(f.start() - 5, "timeout");
    assert.equal(f.inFlight, 0);
    assert.equal(f.errors.get("timeout"), 1);
    assert.ok(f.latency.total.max >= 5000);
    assert.equal(new ServiceCounters(false).func("Plus"), null);
    assert.equal(countingFrom({}), true);
    for (const v of ["off", "0", "false"]) assert.equal(countingFrom({ LUANET_STATS: v }), false);
  });
});

/** A luanet.stats document with only what rowOf reads. */
function doc(over: { pid?: number; time: number; uptime: number; plus: number; errors?: number; cpu: number; p99?: number }): StatsDocument {
  const latency = { count: 1, p50: 1, p90: 1, p99: over.p99 ?? 1, max: 1, sum: 1 };
  return {
    v: 1, service: "S", host: "h", pid: over.pid ?? 7, instance: null, groups: [], time: over.time, uptime: over.uptime, counting: true, window: 10,
    funcs: { Plus: { calls: over.plus, errors: { timeout: over.errors ?? 0 }, inFlight: 2, recent: latency, total: latency } },
    unknownCalls: 0, peers: {},
    mailbox: { length: 3, bytes: 0, received: 0, dropped: 0, maxLength: 1, maxBytes: 1 },
    handlers: { running: 0, queued: 0, queuedBytes: 0, maxRunning: 1, maxQueued: 1 },
    tasks: { total: 4, ready: 0, running: 0, suspended: 4, waiting: { rpc: 0, getmsg: 0, sleep: 4, block: 0, other: 0 } },
    process: { pid: 7, uptime: 1, rss: 100, heapUsed: 1, heapTotal: 1, external: 0, cpuUser: over.cpu, cpuSystem: 0, eventLoop: { p50: 0, p99: 2, max: 3, mean: 0, seconds: 10 } },
  };
}

describe("luanet top's rows", () => {
  test("rates are the difference of two samples over the time between them", () => {
    const before = doc({ time: 10_000, uptime: 10, plus: 1000, errors: 5, cpu: 1_000_000 });
    const now = doc({ time: 12_000, uptime: 12, plus: 3000, errors: 9, cpu: 1_500_000 });
    const row = rowOf("S", now, before);
    assert.equal(row.callsPerSec, 1000);
    assert.equal(row.errorsPerSec, 2);
    assert.equal(row.cpu, 25);
    assert.equal(row.slowest, "Plus");
    assert.equal(row.inFlight, 2);
    assert.equal(row.mailbox, 3);
    assert.equal(row.tasks, 4);
  });

  test("a restarted service (another pid, or less uptime) is rated since its start; an error is its row", () => {
    const before = doc({ time: 10_000, uptime: 100, plus: 99_999, cpu: 0 });
    const restarted = doc({ pid: 8, time: 12_000, uptime: 4, plus: 400, cpu: 0 });
    const row = rowOf("S", restarted, before);
    assert.equal(row.callsPerSec, 100);
    assert.equal(row.cpu, null);
    const gone = rowOf("S", { error: "timeout: no answer" }, before);
    assert.equal(gone.error, "timeout: no answer");
    assert.equal(gone.pid, null);
  });

  test("sorted highest first, by name among equals", () => {
    const a = rowOf("a", doc({ time: 2000, uptime: 2, plus: 10, cpu: 0, p99: 50 }), undefined);
    const b = rowOf("b", doc({ time: 2000, uptime: 2, plus: 20, cpu: 0, p99: 5 }), undefined);
    const c = rowOf("c", doc({ time: 2000, uptime: 2, plus: 20, cpu: 0, p99: 5 }), undefined);
    assert.deepEqual(sortRows([a, c, b], "calls").map((r) => r.service), ["b", "c", "a"]);
    assert.deepEqual(sortRows([c, b, a], "p99").map((r) => r.service), ["a", "b", "c"]);
    assert.deepEqual(sortRows([c, a, b], "name").map((r) => r.service), ["a", "b", "c"]);
  });

  test("numbers print short", () => {
    assert.equal(ms(0.004), "4us");
    assert.equal(ms(3.14159), "3.14ms");
    assert.equal(ms(204.8), "204.8ms");
    assert.equal(ms(1500), "1.50s");
    assert.equal(bytes(512), "512B");
    assert.equal(bytes(3 * 1048576), "3.0M");
  });
});
