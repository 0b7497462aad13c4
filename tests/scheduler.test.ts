/**
 * The scheduler, observed from outside: each test runs a real luanet process on a small script
 * and asserts what it printed and how it exited.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runScript, startLuanet, fixture } from "./helpers/proc.ts";
import { join } from "node:path";

const lines = (s: string) => s.trim().split("\n");

describe("scheduler", { concurrency: true }, () => {
  test("spawned tasks start after Spawn returns, in spawn order, and Yield interleaves them", async () => {
    const r = await runScript(`
      const log: string[] = [];
      for (const name of ["a", "b", "c"]) {
        Sche.Spawn(function* () { log.push(name + "1"); yield* Sche.Yield(); log.push(name + "2"); });
      }
      log.push("spawned");
      Sche.Spawn(function* () { yield* Sche.Yield(); yield* Sche.Yield(); console.log(log.join(" ")); });
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "spawned a1 b1 c1 a2 b2 c2");
  });

  test("a task function may return any iterator: a hand-written one, or a generator with its own next, is driven and halted as a generator", async () => {
    const r = await runScript(`
      const log: string[] = [];
      // A hand-written iterator (next, throw and return, as a task needs) over two Yields.
      const forward = (inner: Generator) => ({
        next: (v?: unknown) => inner.next(v), throw: (e?: unknown) => inner.throw(e), return: (v?: unknown) => inner.return(v),
        [Symbol.iterator]() { return this; },
      });
      const handWritten = () => forward((function* () { yield* Sche.Yield(); log.push("hand 1"); yield* Sche.Yield(); log.push("hand 2"); return "hand done"; })());
      // A generator whose own next counts the steps it is driven through.
      let steps = 0;
      const counted = () => {
        const g = (function* () { yield* Sche.Yield(); return "counted done"; })();
        const next = g.next.bind(g);
        return Object.assign(g, { next: (v?: unknown) => (steps++, next(v)) });
      };
      // A custom iterator halted while it waits: its return() runs.
      const haltable = () => forward((function* () { try { yield* Sche.Sleep(60_000); } finally { log.push("haltable finally"); } })());
      export default function* () {
        const a = Sche.Spawn(handWritten as any), b = Sche.Spawn(counted as any), c = Sche.Spawn(haltable as any);
        log.push(String(yield* a), String(yield* b));
        c.halt();
        yield* Sche.Yield();
        console.log(JSON.stringify({ log, steps }));
      }
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { log: ["hand 1", "hand 2", "hand done", "counted done", "haltable finally"], steps: 2 });
  });

  test("halting a task that sleeps for ten minutes releases its timer: the process exits as soon as its last task ends", async () => {
    // The script times, in its own clock, from the end of its last task to the process's exit
    // event; a timer left armed would hold the process for the ten minutes, far past the 15 s
    // that runScript waits before it kills the process and fails the test.
    const r = await runScript(`
      export default function* () {
        const sleeper = Sche.Spawn(function* () { try { yield* Sche.Sleep(600_000); } finally { console.log("finally"); } });
        yield* Sche.Yield();
        sleeper.halt();
        const lastTaskEnded = performance.now(); // the root task returns right after this
        process.on("exit", () => console.log(JSON.stringify({ exitMs: performance.now() - lastTaskEnded })));
      }
    `);
    assert.equal(r.code, 0, r.stderr);
    const [finally_, timing] = lines(r.stdout);
    assert.equal(finally_, "finally");
    const { exitMs } = JSON.parse(timing!) as { exitMs: number };
    assert.ok(exitMs < 5000, `the process exited ${exitMs} ms after its last task ended`);
  });

  test("Sleep waits at least its time and sleepers wake in deadline order", async () => {
    // Each deadline is counted from when its task called Sleep; under load that need not be
    // spawn order, so the script reports each task's own deadline.
    const r = await runScript(`
      const woke: { ms: number; deadline: number; slept: number }[] = [];
      for (const ms of [60, 20, 40, 0, 30]) {
        Sche.Spawn(function* () {
          const start = performance.now();
          yield* Sche.Sleep(ms);
          woke.push({ ms, deadline: start + ms, slept: performance.now() - start });
        });
      }
      Sche.Spawn(function* () { yield* Sche.Sleep(100); console.log(JSON.stringify(woke)); });
    `);
    assert.equal(r.code, 0, r.stderr);
    const woke = JSON.parse(r.stdout) as { ms: number; deadline: number; slept: number }[];
    assert.equal(woke.length, 5);
    for (const w of woke) assert.ok(w.slept >= w.ms, `Sleep(${w.ms}) returned after ${w.slept} ms`);
    // Sleep(0) is Yield: it resumes once the other ready tasks have had their turn, and a timer
    // that fell due meanwhile (a loaded machine can take over 20 ms for those turns: seen here)
    // may go first or not. It has no deadline to keep, so it has no place in the order.
    const deadlines = woke.filter((w) => w.ms > 0).map((w) => w.deadline);
    assert.deepEqual(deadlines, [...deadlines].sort((a, b) => a - b), "woken in deadline order");
  });

  test("Block returns true when woken and false when its timeout runs out; WakeUp reports whether it woke", async () => {
    const r = await runScript(`
      export default function* () {
        const me = Sche.Running()!;
        Sche.Spawn(function* () { yield* Sche.Sleep(20); console.log("wake", Sche.WakeUp(me)); console.log("again", Sche.WakeUp(me)); });
        console.log("woken", yield* Sche.Block());
        const t0 = performance.now();
        console.log("timed out", yield* Sche.Block(50), performance.now() - t0 >= 50);
        const sleeper = Sche.Spawn(function* () { yield* Sche.Sleep(10); });
        yield* Sche.Yield();
        console.log("not blocked", Sche.WakeUp(sleeper));
        console.log("woken before timeout", yield* (function* () {
          Sche.Spawn(function* () { Sche.WakeUp(me); });
          return yield* Sche.Block(5000);
        })());
      }
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ["wake true", "again false", "woken true", "timed out false true", "not blocked false", "woken before timeout true"]);
  });

  test("halt runs finally blocks, which may block; joining a halted task throws code halted", async () => {
    const r = await runScript(`
      export default function* () {
        const t = Sche.Spawn(function* () {
          try { yield* Sche.Sleep(60_000); console.log("not reached"); }
          finally { console.log("finally"); yield* Sche.Sleep(10); console.log("finally slept"); }
        });
        const unstarted = Sche.Spawn(function* () { console.log("never runs"); });
        unstarted.halt();
        yield* Sche.Sleep(5);
        console.log("status", t.status, t.waitingOn);
        yield* t.halt();
        console.log("halted", t.status);
        try { yield* t; } catch (e: any) { console.log("join", e.code, e.message); }
        const self = Sche.Spawn(function* () { try { Sche.Running()!.halt(); yield* Sche.Sleep(1000); } finally { console.log("self-halt finally"); } });
        try { yield* self; } catch (e: any) { console.log("self", e.code); }
      }
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [
      "status suspended sleep(60000)", "finally", "finally slept", "halted done",
      "join halted task #2 (task) was halted", "self-halt finally", "self halted",
    ]);
  });

  test("join returns a task's result and rethrows its error", async () => {
    const r = await runScript(`
      export default function* () {
        const add = Sche.Spawn(function* (a: number, b: number) { yield* Sche.Sleep(5); return a + b; }, 2, 3);
        const plain = Sche.Spawn((x: string) => x.toUpperCase(), "plain");
        const bad = Sche.Spawn(function* () { yield* Sche.Sleep(5); throw new RangeError("bad input"); });
        try { yield* bad; } catch (e: any) { console.log(e.name, e.message); }
        console.log(yield* add, yield* plain);
        console.log("again", yield* add);
      }
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ["RangeError bad input", "5 PLAIN", "again 5"]);
    assert.equal(r.stderr, "", "the error of a task being joined is the joiner's, not logged");
  });

  test("an error escaping one task is logged with the task and its stack; the others carry on", async () => {
    const r = await runScript(`
      function* crasher() { yield* Sche.Sleep(5); throw new Error("crash in crasher"); }
      Sche.Spawn(crasher);
      Sche.Spawn(function* () { for (let i = 0; i < 3; i++) { yield* Sche.Sleep(10); console.log("tick", i); } });
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ["tick 0", "tick 1", "tick 2"]);
    assert.match(r.stderr, /task #\d+ \(crasher\) failed/);
    assert.match(r.stderr, /Error: crash in crasher\n\s+at crasher \(.*script\.ts:2:\d+\)/);
  });

  test("a task looping on Yield starves neither other tasks nor timers nor I/O", async () => {
    const r = await runScript(`
      import { createServer, connect } from "node:net";
      let spins = 0, stop = false;
      Sche.Spawn(function* spinner() { while (!stop) { spins++; yield* Sche.Yield(); } });
      Sche.Spawn(function* () {
        yield* Sche.Sleep(20);
        const server = createServer((s) => s.end("pong"));
        yield* Sche.Await(new Promise<void>((r) => server.listen(0, "127.0.0.1", r)));
        const port = (server.address() as any).port;
        const reply = yield* Sche.Await(new Promise<string>((r) => connect(port, "127.0.0.1").on("data", (d) => r(String(d)))));
        stop = true;
        server.close();
        console.log("timer and socket ok:", reply, spins > 100);
      });
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "timer and socket ok: pong true");
  });

  test("the process exits 0 when no task can run again, even with tasks blocked forever", async () => {
    // Timed in the script's own clock, from the end of the last task that could run to the exit.
    const r = await runScript(`
      Sche.Spawn(function* () { yield* Sche.Block(); console.log("never"); });
      Sche.Spawn(function* () {
        yield* Sche.Sleep(30);
        console.log("slept");
        const ended = performance.now();
        process.on("exit", () => console.log(JSON.stringify({ exitMs: performance.now() - ended })));
      });
    `);
    assert.equal(r.code, 0, r.stderr);
    const [slept, timing] = lines(r.stdout);
    assert.equal(slept, "slept");
    const { exitMs } = JSON.parse(timing!) as { exitMs: number };
    assert.ok(exitMs < 5000, `the process exited ${exitMs} ms after its last runnable task ended`);
  });

  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    test(`${signal} halts tasks (finally blocks run) and exits ${code}`, async () => {
      const dir = fixture({ "svc.ts": `
        import { createServer } from "node:net";
        const server = createServer().listen(0, "127.0.0.1");
        Sche.Spawn(function* worker() {
          try { console.log("ready"); yield* Sche.Block(); }
          finally { yield* Sche.Sleep(10); console.log("worker cleanup"); server.close(); }
        });
      ` });
      const p = startLuanet([join(dir, "svc.ts")], { cwd: dir });
      await p.waitFor(/ready/);
      p.child.kill(signal);
      const exit = await p.exited();
      assert.equal(exit.code, code, exit.stderr);
      assert.match(exit.stdout, /worker cleanup/);
    });
  }

  test("bad arguments and blocking outside a task are TypeErrors that say what is wrong", async () => {
    const r = await runScript(`
      const tryIt = (label: string, f: () => unknown) => { try { f(); console.log(label, "no error"); } catch (e: any) { console.log(label, e.name + ": " + e.message); } };
      tryIt("spawn", () => Sche.Spawn(42 as any));
      tryIt("sleep", () => Sche.Sleep(-1));
      tryIt("block", () => Sche.Block(NaN));
      tryIt("wakeup", () => Sche.WakeUp({} as any));
      setTimeout(() => tryIt("outside", () => Sche.Sleep(1)[Symbol.iterator]().next()), 1);
      Sche.Spawn(function* bare() { try { yield 5 as any; } catch (e: any) { console.log("bare", e.name + ": " + e.message); } });
    `);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /spawn TypeError: Sche\.Spawn\(fn, \.\.\.args\): fn must be a function, got 42/);
    assert.match(out, /sleep TypeError: Sche\.Sleep\(ms\): ms must be a number of milliseconds >= 0, got -1/);
    assert.match(out, /block TypeError: Sche\.Block\(ms\): .* got NaN/);
    assert.match(out, /wakeup TypeError: Sche\.WakeUp\(task\): task must be a Task/);
    assert.match(out, /outside TypeError: Sche\.Sleep blocks, so it must be called with yield\* inside a luanet task.*outside any task/);
    assert.match(out, /bare TypeError: task #\d+ \(bare\) yielded 5: a task may only yield\* luanet operations/);
  });

  test("the module body runs in the root task; the default export runs after it with the script's arguments", async () => {
    const r = await runScript(`
      console.log("body in", String(Sche.Running()), luanet.args.join(","), process.argv.slice(2).join(","));
      Sche.Spawn(function* () { console.log("spawned from body"); });
      export default function* (a: string, b: string) { console.log("main in", String(Sche.Running()), a, b); }
    `, { args: ["x", "--flag"] });
    assert.equal(r.code, 0, r.stderr);
    // The module loads asynchronously, so a task the body spawned runs before the default export starts.
    assert.deepEqual(lines(r.stdout), ["body in task #1 (root) x,--flag x,--flag", "spawned from body", "main in task #1 (root) x --flag"]);
  });

  test("an error escaping the root task is logged with the user's line and the process exits 1", async () => {
    const r = await runScript(`
      Sche.Spawn(function* () { yield* Sche.Sleep(60_000); });
      export default function* () {
        yield* Sche.Sleep(1);
        throw new Error("root failed");
      }
    `);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error: root failed\n\s+at .*script\.ts:5:\d+/);
  });
});
