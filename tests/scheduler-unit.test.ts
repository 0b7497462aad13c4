/**
 * The scheduler in-process: its modules imported directly, real tasks driven by the real loop
 * with real (short) timers. Every wait is bounded, and after each test every task must be done,
 * so one test's leftovers cannot pass or fail the next.
 */
import assert from "node:assert/strict";
import { stat } from "node:fs";
import { afterEach, describe, test } from "node:test";
import { ErrorCode, TaskHaltedError } from "../runtime/errors.ts";
import { Block, WakeUp } from "../runtime/scheduler/block.ts";
import { currentContext, runAs } from "../runtime/scheduler/context.ts";
import { setFailureReporter } from "../runtime/scheduler/failure.ts";
import { Await } from "../runtime/scheduler/index.ts";
import { Instruction } from "../runtime/scheduler/instruction.ts";
import { allDone, liveTasks } from "../runtime/scheduler/live.ts";
import { awaitPromise, settleValue } from "../runtime/scheduler/promise.ts";
import { resume } from "../runtime/scheduler/resume.ts";
import { Sleep, Yield } from "../runtime/scheduler/sleep.ts";
import { Running, Spawn, spawnNamed } from "../runtime/scheduler/spawn.ts";
import { suspend } from "../runtime/scheduler/suspension.ts";
import type { Task } from "../runtime/scheduler/task.ts";
import { clearTimer, setTimer, timerLists } from "../runtime/scheduler/timers.ts";

/** Reject if `p` has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** What `task` returns (or throws), joined from a helper task; at most `ms`. */
function outcome<T>(task: Task<T>, ms = 5000): Promise<T> {
  return within(new Promise<T>((resolve, reject) => {
    Spawn(function* () {
      try {
        resolve(yield* task);
      } catch (error) {
        reject(error);
      }
    });
  }), ms, String(task));
}

/** Run `fn` as a task and return what it returns. */
function run<T>(fn: () => Generator<Instruction, T, unknown>, ms = 5000): Promise<T> {
  return outcome(Spawn(fn), ms);
}

/** Let the event loop turn until `done()`, at most `ms`. */
async function until(done: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`${what}: not true within ${ms} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Node timers holding the process open (an unref'd or cleared timer is not listed). The long
 * timers below are 20 s, not hours: if one leaked, the test process would hang that long at most. */
const nodeTimers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

const busyWait = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

const assertHalted = (error: unknown) => {
  assert.ok(error instanceof TaskHaltedError, `expected TaskHaltedError, got ${String(error)}`);
  assert.equal(error.code, ErrorCode.halted);
  return true;
};

/** A task waits on its own timer: `timeout` records the expiry, another task may resume it first. */
class TimedInstr extends Instruction {
  readonly name = "timed";
  deadline = NaN;
  constructor(readonly ms: number, readonly onExpire: (instr: TimedInstr, task: Task) => void) {
    super();
  }
  enter(task: Task): void {
    setTimer(task, this.ms);
    this.deadline = task._timer!.expiry;
  }
  override timeout(task: Task): void {
    this.onExpire(this, task);
    resume(task, this, "expired");
  }
}

afterEach(async () => {
  await within(allDone(), 5000, "every task done after the test");
  assert.deepEqual(liveTasks(), []);
});

describe("run queue", () => {
  test("spawned tasks start after Spawn returns, in spawn order; Yield interleaves them", async () => {
    const log: string[] = [];
    const tasks = ["a", "b", "c"].map((name) => Spawn(function* () {
      log.push(`${name}1`);
      yield* Yield();
      log.push(`${name}2`);
      yield* Yield();
      log.push(`${name}3`);
    }));
    log.push("spawned");
    assert.deepEqual(tasks.map((t) => t.status), ["ready", "ready", "ready"]);
    for (const t of tasks) await outcome(t);
    assert.deepEqual(log, ["spawned", "a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"]);
  });

  test("two tasks looping on Yield alternate strictly: neither runs twice in a row", async () => {
    const log: number[] = [];
    const loopOn = (id: number) => function* () {
      for (let i = 0; i < 1000; i++) {
        log.push(id);
        yield* Yield();
      }
    };
    const a = Spawn(loopOn(0)), b = Spawn(loopOn(1));
    await outcome(a);
    await outcome(b);
    assert.equal(log.length, 2000);
    for (let i = 0; i < log.length; i++) assert.equal(log[i], i % 2, `step ${i}`);
  });

  test("a woken task runs after the waker's step and after every task already ready, in wake order", async () => {
    const log: string[] = [];
    const blocked = ["a", "b", "c"].map((name) => Spawn(function* () {
      yield* Block();
      log.push(name);
    }));
    await until(() => blocked.every((t) => t.status === "suspended"), 5000, "all blocked");
    await run(function* () {
      Spawn(function* () { log.push("spawned before the wake-ups"); });
      assert.equal(WakeUp(blocked[2]!), true);
      assert.equal(WakeUp(blocked[0]!), true);
      assert.equal(WakeUp(blocked[1]!), true);
      log.push("waker");
      yield* Yield();
      log.push("waker again");
    });
    assert.deepEqual(log, ["waker", "spawned before the wake-ups", "c", "a", "b", "waker again"]);
  });

  test("a task looping on Yield starves neither setImmediate, nor I/O, nor timers", async () => {
    let immediate = false, io = false, slept = false, spins = 0;
    setImmediate(() => { immediate = true; });
    stat(import.meta.dirname, () => { io = true; });
    Spawn(function* () { yield* Sleep(5); slept = true; });
    const spinner = Spawn(function* () {
      const deadline = performance.now() + 3000;
      while (!(immediate && io && slept) && performance.now() < deadline) {
        spins++;
        yield* Yield();
      }
      return { immediate, io, slept };
    });
    assert.deepEqual(await outcome(spinner), { immediate: true, io: true, slept: true });
    assert.ok(spins > 64, `the spinner looped only ${spins} times: it never ran long enough to need a break`);
  });

  test("a task that yields something other than an operation gets a TypeError at that yield", async () => {
    const caught = await run(function* () {
      try {
        yield 42 as unknown as Instruction;
        return "no error";
      } catch (error) {
        return error;
      }
    });
    assert.ok(caught instanceof TypeError);
    assert.match(caught.message, /yielded 42: a task may only yield\* luanet operations/);
  });

  test("an instruction whose enter throws throws that error at the task's yield*", async () => {
    const boom = new Error("enter failed");
    class Broken extends Instruction {
      readonly name = "broken";
      enter(task: Task): void {
        setTimer(task, 20_000); // left behind by the failed enter: leaving the suspension clears it
        throw boom;
      }
    }
    const base = nodeTimers();
    const caught = await run(function* () {
      try {
        yield* suspend<void>(new Broken(), "broken");
      } catch (error) {
        return error;
      }
    });
    assert.equal(caught, boom);
    assert.equal(nodeTimers(), base);
  });

  test("blocking outside any task is a TypeError naming the API", () => {
    assert.throws(() => Sleep(10)[Symbol.iterator]().next(), /Sche\.Sleep blocks, so it must be called with yield\* inside a luanet task/);
    assert.throws(() => Block()[Symbol.iterator]().next(), /Sche\.Block blocks/);
    assert.equal(Running(), null);
  });
});

describe("spawn", () => {
  test("a task gets exactly the arguments it was spawned with, none to many", async () => {
    const seen: unknown[][] = [];
    function* record(...args: unknown[]) { seen.push(args); }
    const tasks = [Spawn(record), Spawn(record, 1), Spawn(record, "a", undefined, null), Spawn(record, ...Array.from({ length: 20 }, (_, i) => i))];
    for (const t of tasks) await outcome(t);
    assert.deepEqual(seen, [[], [1], ["a", undefined, null], Array.from({ length: 20 }, (_, i) => i)]);
  });

  test("a task's name is its function's (\"task\" for an anonymous one) or the one it was given, before, while and after it runs", async () => {
    function* worker() { yield* Yield(); return "ok"; }
    const named = Spawn(worker), anonymous = Spawn((() => function* () {})()), given = spawnNamed("given", worker);
    assert.deepEqual([named.name, anonymous.name, given.name], ["worker", "task", "given"]);
    assert.equal(String(named), `task #${named.id} (worker)`);
    assert.equal(await outcome(named), "ok");
    await outcome(anonymous);
    await outcome(given);
    assert.deepEqual([named.name, anonymous.name, given.name], ["worker", "task", "given"]);
  });
});

describe("halt", () => {
  test("halting a suspended task runs its finally blocks, releases its timer, and joining it throws TaskHaltedError", async () => {
    const log: string[] = [];
    const base = nodeTimers();
    const sleeper = Spawn(function* () {
      try {
        yield* Sleep(20_000);
        log.push("woke");
      } finally {
        log.push("finally");
      }
    });
    await until(() => sleeper.status === "suspended");
    assert.equal(sleeper.waitingOn, "sleep(20000)");
    assert.equal(nodeTimers(), base + 1);
    sleeper.halt();
    assert.equal(nodeTimers(), base, "the Node timer goes as soon as the last task timer is cleared");
    assert.equal(sleeper.status, "ready");
    await assert.rejects(outcome(sleeper), assertHalted);
    assert.deepEqual(log, ["finally"]);
  });

  test("halting a task that is ready (queued after a Yield) runs its finally instead of resuming it", async () => {
    const log: string[] = [];
    const a = Spawn(function* () {
      try {
        yield* Yield();
        log.push("resumed");
      } finally {
        log.push("finally");
      }
    });
    let seen = "";
    Spawn(function* () {
      seen = a.status; // a has yielded and is queued again
      a.halt();
    });
    await assert.rejects(outcome(a), assertHalted);
    assert.equal(seen, "ready");
    assert.deepEqual(log, ["finally"]);
  });

  test("halting a task that never started ends it at once; its function never runs", async () => {
    let ran = false;
    const t = Spawn(function* () { ran = true; });
    t.halt();
    assert.equal(t.done, true);
    assert.equal(t.status, "done");
    await assert.rejects(outcome(t), assertHalted);
    assert.equal(ran, false);
  });

  test("a task halting itself finishes at its next yield, without entering it", async () => {
    const log: string[] = [];
    const t = Spawn(function* () {
      const base = nodeTimers();
      try {
        Running()!.halt();
        log.push("after halt()");
        yield* Sleep(20_000);
        log.push("slept");
      } finally {
        log.push(`finally, timers ${nodeTimers() - base}`);
      }
    });
    await assert.rejects(outcome(t), assertHalted);
    assert.deepEqual(log, ["after halt()", "finally, timers 0"]);
  });

  test("finally blocks may block; yield* task.halt() waits for them; halting twice or a done task does nothing", async () => {
    const log: string[] = [];
    const t = Spawn(function* () {
      try {
        yield* Block();
      } finally {
        const t0 = performance.now();
        yield* Sleep(20);
        log.push(`cleaned up after ${performance.now() - t0 >= 20 ? ">= 20" : "< 20"} ms`);
      }
    });
    await until(() => t.status === "suspended");
    await run(function* () {
      yield* t.halt();
      log.push(`halt returned, done ${t.done}`);
      t.halt();
      yield* t.halt();
      log.push("halted again");
    });
    assert.deepEqual(log, ["cleaned up after >= 20 ms", "halt returned, done true", "halted again"]);
    await assert.rejects(outcome(t), assertHalted);
  });

  test("halting delivers a return, not an error: catch blocks do not run, finally blocks do", async () => {
    const log: string[] = [];
    const t = Spawn(function* () {
      try {
        yield* Block();
      } catch (error) {
        log.push(`caught ${String(error)}`);
      } finally {
        log.push("finally");
      }
      log.push("after try");
    });
    await until(() => t.status === "suspended");
    t.halt();
    await assert.rejects(outcome(t), assertHalted);
    assert.deepEqual(log, ["finally"]);
  });
});

describe("join", () => {
  test("join returns the result; every joiner is woken; joining a done task returns at once", async () => {
    const t = Spawn(function* () {
      yield* Sleep(10);
      return { answer: 42 };
    });
    const joiners = [1, 2, 3].map(() => Spawn(function* () { return yield* t; }));
    assert.equal(t.waitingOn, null);
    await until(() => joiners.every((j) => j.status === "suspended"));
    assert.match(joiners[0]!.waitingOn!, /^join\(task #\d+ \(task\)\)$/);
    const results = await Promise.all(joiners.map((j) => outcome(j)));
    for (const r of results) assert.equal(r, results[0]);
    assert.deepEqual(results[0], { answer: 42 });
    assert.deepEqual(await run(function* () { return yield* t; }), { answer: 42 });
  });

  test("join rethrows the task's error; a task cannot join itself", async () => {
    const boom = new Error("boom");
    const t = Spawn(function* () {
      yield* Yield();
      throw boom;
    });
    await assert.rejects(outcome(t), (e) => e === boom);
    const self = await run(function* () {
      try {
        yield* Running()!;
      } catch (error) {
        return error;
      }
    });
    assert.ok(self instanceof TypeError);
    assert.match(self.message, /cannot join itself/);
  });

  test("a joiner halted while it waits stops joining: the target's later failure is unjoined", async () => {
    const reported: unknown[] = [];
    const previous = setFailureReporter((_task, error) => void reported.push(error));
    try {
      const target = Spawn(function* () {
        yield* Block();
        throw new Error("late failure");
      });
      const joiner = Spawn(function* () { yield* target; });
      await until(() => joiner.status === "suspended" && target.status === "suspended");
      joiner.halt();
      await assert.rejects(outcome(joiner), assertHalted);
      WakeUp(target);
      await until(() => target.done);
      assert.equal(reported.length, 1);
      assert.match(String(reported[0]), /late failure/);
    } finally {
      setFailureReporter(previous);
    }
  });
});

describe("Block and WakeUp", () => {
  test("Block() returns true when woken; WakeUp reports whether it woke anyone", async () => {
    const t = Spawn(function* () { return yield* Block(); });
    await until(() => t.status === "suspended");
    assert.equal(t.waitingOn, "block");
    assert.equal(WakeUp(t), true);
    assert.equal(WakeUp(t), false, "a second wake-up finds it no longer blocked");
    assert.equal(await outcome(t), true);
    assert.equal(WakeUp(t), false, "a done task");
    assert.throws(() => WakeUp({} as Task), /Sche\.WakeUp\(task\): task must be a Task/);
  });

  test("Block(ms) returns false once ms ran out, and not before", async () => {
    const r = await run(function* () {
      const t0 = performance.now();
      const woken = yield* Block(30);
      return { woken, waited: performance.now() - t0 };
    });
    assert.equal(r.woken, false);
    assert.ok(r.waited >= 30, `waited ${r.waited} ms`);
  });

  test("Block(ms) woken in time returns true and releases its timer", async () => {
    const base = nodeTimers();
    const t = Spawn(function* () { return yield* Block(20_000); });
    await until(() => t.status === "suspended");
    assert.equal(t.waitingOn, "block(20000)");
    assert.equal(nodeTimers(), base + 1);
    assert.equal(WakeUp(t), true);
    assert.equal(nodeTimers(), base);
    assert.equal(await outcome(t), true);
  });

  test("a wake-up is not remembered; WakeUp does not wake a sleeper", async () => {
    const r = await run(function* () {
      const me = Running()!;
      const early = WakeUp(me); // running, not blocked
      const woken = yield* Block(20);
      return { early, woken };
    });
    assert.deepEqual(r, { early: false, woken: false });
    const sleeper = Spawn(function* () {
      const t0 = performance.now();
      yield* Sleep(30);
      return performance.now() - t0;
    });
    await until(() => sleeper.status === "suspended");
    assert.equal(WakeUp(sleeper), false);
    assert.ok((await outcome(sleeper)) >= 30);
  });

  test("bad durations are TypeErrors", () => {
    assert.throws(() => Block(-1), /Sche\.Block\(ms\): ms must be a number of milliseconds >= 0 \(or Infinity\), got -1/);
    assert.throws(() => Block(NaN), /Sche\.Block\(ms\)/);
    assert.throws(() => Sleep(Infinity), /Sche\.Sleep\(ms\): ms must be a number of milliseconds >= 0, got Infinity/);
    assert.throws(() => Sleep("5" as unknown as number), /Sche\.Sleep\(ms\)/);
  });
});

describe("Sleep and timers", () => {
  test("Sleep waits at least its time, and sleepers wake in deadline order", async () => {
    const woke: { ms: number; deadline: number; slept: number }[] = [];
    const tasks = [40, 10, 30, 0, 20, 10, 5].map((ms) => Spawn(function* () {
      const t0 = performance.now();
      yield* Sleep(ms);
      const now = performance.now();
      woke.push({ ms, deadline: t0 + ms, slept: now - t0 });
    }));
    for (const t of tasks) await outcome(t);
    for (const w of woke) assert.ok(w.slept >= w.ms, `Sleep(${w.ms}) slept ${w.slept} ms`);
    const byDeadline = [...woke].sort((a, b) => a.deadline - b.deadline);
    assert.deepEqual(woke.map((w) => w.ms), byDeadline.map((w) => w.ms));
    assert.deepEqual(woke.map((w) => w.ms).slice(0, 2), [0, 5]);
  });

  test("timers of many durations expire in deadline order, none early; cleared ones never expire", async () => {
    const expired: { instr: TimedInstr; at: number }[] = [];
    const onExpire = (instr: TimedInstr) => void expired.push({ instr, at: performance.now() });
    const instrs: TimedInstr[] = [];
    const durations = [37, 3, 21, 3, 1, 50, 8, 21, 13, 2, 34, 5, 1, 55, 8, 44, 3, 29, 17, 60];
    const tasks = durations.map((ms) => Spawn(function* () {
      const instr = new TimedInstr(ms, onExpire);
      instrs.push(instr); // in spawn order: the tasks' first steps run in one round
      return yield* suspend<string>(instr, "timed");
    }));
    // Every fourth is woken early, in the same round (no timer can fire inside it): its timer is
    // cleared, so it must never expire.
    const earlyWoken: boolean[] = [];
    Spawn(function* () {
      tasks.forEach((t, i) => { if (i % 4 === 0) earlyWoken.push(resume(t, t._waitingOn!, "early")); });
    });
    const results = await Promise.all(tasks.map((t) => outcome(t)));
    assert.deepEqual(earlyWoken, [true, true, true, true, true]);
    assert.deepEqual(results, durations.map((_, i) => (i % 4 === 0 ? "early" : "expired")));
    assert.deepEqual(expired.map((e) => instrs.indexOf(e.instr) % 4 === 0), new Array(15).fill(false));
    for (const { instr, at } of expired) assert.ok(at >= instr.deadline, `the ${instr.ms} ms timer expired ${instr.deadline - at} ms early`);
    for (let i = 1; i < expired.length; i++) {
      assert.ok(expired[i - 1]!.instr.deadline <= expired[i]!.instr.deadline, `expiry ${i} out of deadline order`);
    }
  });

  test("a late firing that finds several durations due wakes across them in deadline order", async () => {
    const order: number[] = [];
    const onExpire = (instr: TimedInstr) => void order.push(instr.ms);
    // The 24 ms timer is set first (its list first in the map: no other test uses these
    // durations), the 6 ms one 3 ms later, so its deadline is 15 ms earlier. Then the thread is
    // busy for 40 ms, so both are due at one firing.
    const a = Spawn(function* () { yield* suspend(new TimedInstr(24, onExpire), "timed"); });
    const b = Spawn(function* () {
      busyWait(3);
      yield* suspend(new TimedInstr(6, onExpire), "timed");
    });
    Spawn(function* () { busyWait(40); });
    await outcome(a);
    await outcome(b);
    assert.deepEqual(order, [6, 24]);
  });

  test("setting a task's timer again replaces it; clearing the last timer leaves no Node timer", async () => {
    const base = nodeTimers();
    const expired: number[] = [];
    const t = Spawn(function* () {
      return yield* suspend<string>(new TimedInstr(20_000, (instr) => void expired.push(instr.ms)), "timed");
    });
    await until(() => t.status === "suspended");
    assert.equal(nodeTimers(), base + 1);
    setTimer(t, 10); // replaces the 20 s timer: one Node timer, armed for the earlier one
    assert.equal(nodeTimers(), base + 1);
    assert.equal(await outcome(t), "expired");
    assert.deepEqual(expired, [20_000]); // the instruction's own expiry ran, at the 10 ms timer
    assert.equal(nodeTimers(), base);

    const u = Spawn(function* () { yield* Block(); });
    await until(() => u.status === "suspended");
    setTimer(u, 20_000);
    setTimer(u, 15_000);
    assert.equal(nodeTimers(), base + 1);
    clearTimer(u);
    assert.equal(u._timer, null);
    assert.equal(nodeTimers(), base);
    clearTimer(u); // clearing twice is harmless
    assert.equal(nodeTimers(), base);
    WakeUp(u);
  });

  test("after a long timer's neighbour expires, the Node timer is re-armed for it, and goes when it is halted", async () => {
    const base = nodeTimers();
    const long = Spawn(function* () { yield* Sleep(20_000); });
    const short = Spawn(function* () { yield* Sleep(10); });
    await outcome(short);
    assert.equal(long.status, "suspended");
    assert.equal(nodeTimers(), base + 1);
    long.halt();
    assert.equal(nodeTimers(), base);
    await assert.rejects(outcome(long), assertHalted);
  });
});

describe("task context", () => {
  test("a task spawned outside any task has context null; a spawned task inherits its spawner's", async () => {
    assert.equal(currentContext(), null);
    const ctx = { service: "A" };
    const seen: unknown[] = [];
    const parent = spawnNamed("parent", function* () {
      seen.push(currentContext());
      const child = Spawn(function* () {
        seen.push(currentContext());
        yield* Yield();
        seen.push(Running()!.context);
        return Spawn(function* () { seen.push(currentContext()); });
      });
      yield* (yield* child);
    }, [], ctx);
    assert.equal(parent.name, "parent");
    assert.equal(parent.context, ctx);
    await outcome(parent);
    assert.deepEqual(seen, [ctx, ctx, ctx, ctx]);
    for (const s of seen) assert.equal(s, ctx);
    const plain = Spawn(function* () { return currentContext(); });
    assert.equal(await outcome(plain), null);
    assert.equal(plain.context, null);
  });

  test("spawnNamed with an explicit context overrides the spawner's", async () => {
    const a = { service: "A" }, b = { service: "B" };
    const r = await outcome(spawnNamed("outer", function* () {
      const inner = spawnNamed("inner", function* () { return currentContext(); }, [], b);
      const inherited = spawnNamed("inherited", function* () { return currentContext(); });
      return [currentContext(), yield* inner, yield* inherited];
    }, [], a));
    assert.deepEqual(r, [a, b, a]);
  });

  test("runAs sets the context for its call, nests, restores it when fn throws, and its spawns inherit it", async () => {
    const a = { service: "A" }, b = { service: "B" }, c = { service: "C" };
    const log: unknown[] = [];
    const t = spawnNamed("svc", function* () {
      log.push(currentContext());
      const value = runAs(b, () => {
        log.push(currentContext());
        const spawned = Spawn(function* () { return currentContext(); });
        assert.throws(() => runAs(c, () => {
          log.push(currentContext());
          throw new Error("inside C");
        }), /inside C/);
        log.push(currentContext());
        return spawned;
      });
      log.push(currentContext());
      log.push(yield* value);
      log.push(currentContext());
    }, [], a);
    await outcome(t);
    assert.deepEqual(log, [a, b, c, b, a, b, a]);
    assert.equal(runAs(c, () => currentContext()), c, "outside any task too");
    assert.equal(currentContext(), null);
  });
});

describe("promises", () => {
  test("awaitPromise returns the value, throws the rejection; the task waits on await(promise)", async () => {
    let release!: (v: string) => void;
    const pending = new Promise<string>((r) => (release = r));
    const t = Spawn(function* () { return yield* awaitPromise(pending); });
    await until(() => t.status === "suspended");
    assert.equal(t.waitingOn, "await(promise)");
    release("later");
    assert.equal(await outcome(t), "later");
    const boom = new Error("rejected");
    const caught = await run(function* () {
      try {
        yield* awaitPromise(Promise.reject(boom));
      } catch (error) {
        return error;
      }
    });
    assert.equal(caught, boom);
    const thenable = { then: (ok: (v: number) => void) => void setTimeout(() => ok(7), 1) } as unknown as PromiseLike<number>;
    assert.equal(await run(function* () { return yield* Await(thenable); }), 7);
    assert.throws(() => Await(42 as unknown as Promise<number>), /Sche\.Await\(promise\): promise must be a promise or thenable, got 42/);
  });

  test("a task function may be async or plain: its result is awaited or returned", async () => {
    assert.equal(await outcome(Spawn(async () => {
      await new Promise((r) => setTimeout(r, 1));
      return "async";
    })), "async");
    await assert.rejects(outcome(Spawn(async () => { throw new Error("async boom"); })), /async boom/);
    assert.equal(await outcome(Spawn(() => "plain")), "plain");
    assert.equal(await outcome(Spawn((x: number, y: number) => x * y, 6, 7)), 42);
  });

  test("settleValue drives a generator, awaits a promise, returns anything else", async () => {
    const r = await run(function* () {
      return [
        yield* settleValue((function* () { yield* Yield(); return "gen"; })()),
        yield* settleValue(Promise.resolve("promise")),
        yield* settleValue("value"),
      ];
    });
    assert.deepEqual(r, ["gen", "promise", "value"]);
  });

  test("a task halted while it awaits ends halted; the promise settling later changes nothing", async () => {
    let release!: (v: string) => void;
    const pending = new Promise<string>((r) => (release = r));
    const log: string[] = [];
    const t = Spawn(function* () {
      try {
        log.push(yield* awaitPromise(pending));
      } finally {
        log.push("finally");
      }
    });
    await until(() => t.status === "suspended");
    t.halt();
    await assert.rejects(outcome(t), assertHalted);
    release("too late");
    await pending;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ["finally"]);
  });
});

describe("failure reporting", () => {
  test("an error escaping a task nobody joins goes to the reporter, once; a joined one does not; others carry on", async () => {
    const reported: { task: Task; error: unknown }[] = [];
    const previous = setFailureReporter((task, error) => void reported.push({ task, error }));
    try {
      const boom = new Error("nobody joins me");
      const failing = Spawn(function* () {
        yield* Yield();
        throw boom;
      });
      const bystander = Spawn(function* () {
        for (let i = 0; i < 5; i++) yield* Yield();
        return "carried on";
      });
      const joined = Spawn(function* () {
        yield* Yield();
        throw new Error("joined");
      });
      await assert.rejects(outcome(joined), /joined/);
      assert.equal(await outcome(bystander), "carried on");
      await until(() => failing.done);
      assert.equal(reported.length, 1);
      assert.equal(reported[0]!.task, failing);
      assert.equal(reported[0]!.error, boom);
      const bad = Spawn(function* () { yield "not an operation" as unknown as Instruction; });
      await until(() => bad.done);
      assert.equal(reported.length, 2);
      assert.match(String(reported[1]!.error), /TypeError: .* yielded "not an operation"/);
    } finally {
      setFailureReporter(previous);
    }
  });

  test("setFailureReporter returns the handler it replaces", () => {
    const mine = () => {};
    const previous = setFailureReporter(mine);
    try {
      assert.equal(typeof previous, "function");
      assert.equal(setFailureReporter(previous), mine);
    } finally {
      setFailureReporter(previous);
    }
  });
});

test("timers with fractional durations share the whole-ms lists: 10,000 deadlines of 5000 - x ms make a list or two, not 10,000", async () => {
  const before = timerLists();
  const sleeper = Spawn(function* () {
    for (let i = 0; i < 10_000; i++) yield* Block(5000 - Math.random() * 0.9);
  });
  Spawn(function* () {
    for (let i = 0; i < 10_000; i++) {
      yield* Yield();
      WakeUp(sleeper);
    }
  });
  await within(allDone(), 10_000, "10,000 switches");
  assert.ok(timerLists() - before <= 2, `${timerLists() - before} timer lists were made`);
});
