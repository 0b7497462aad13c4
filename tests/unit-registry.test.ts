/**
 * The registry clients in-process: NameServiceRegistry against a fake NameServiceLink, the
 * registration loop (registrar.ts keepRegistered) against a fake Claimer, and RegistryChoice
 * (select.ts). No name service, no sockets.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { parseAddr, type NetAddr } from "../stdlib/net.ts";
import { LuanetError, RegistryAwayError, RPCError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";
import { Block } from "../runtime/scheduler/block.ts";
import type { Instruction } from "../runtime/scheduler/instruction.ts";
import { Sleep } from "../runtime/scheduler/sleep.ts";
import { spawnNamed } from "../runtime/scheduler/spawn.ts";
import type { Task } from "../runtime/scheduler/task.ts";
import { EtcdRegistry } from "../runtime/registry/etcd.ts";
import { NameServiceRegistry } from "../runtime/registry/nameservice.ts";
import { keepRegistered, type Claimer } from "../runtime/registry/registrar.ts";
import { RegistryChoice, type RegistrySpec } from "../runtime/registry/select.ts";
import { LIST_PAGE, type NameServiceLink, type Registrant, type RegistryHost, type ServiceInfo } from "../runtime/registry/types.ts";
import { inTask, pause, until } from "./helpers/inproc.ts";

type Answer = [unknown, null] | [null, RPCError];

/** A name service link whose answers the test gives: `answer(func, args)`. */
class FakeNameService implements NameServiceLink {
  readonly calls: { func: string; args: unknown; timeoutMs: number }[] = [];
  heartbeats = 0;
  conn: object | null = {};
  private readonly lost: (() => void)[] = [];
  constructor(public answer: (func: string, args: unknown) => Answer = () => [null, null]) {}
  *call(func: string, args: unknown, timeoutMs: number): Generator<Instruction, Answer, unknown> {
    this.calls.push({ func, args, timeoutMs });
    yield* Sleep(0); // answered after a turn of the scheduler, as a real call would be
    return this.answer(func, args);
  }
  connection(): object | null {
    return this.conn;
  }
  heartbeat(): void {
    this.heartbeats++;
  }
  onLost(fn: () => void): void {
    this.lost.push(fn);
  }
  close(): void {
    this.conn = null;
  }
  /** The connection dropped and another one opened. */
  reconnect(): void {
    this.conn = {};
    for (const fn of this.lost) fn();
  }
  named(func: string) {
    return this.calls.filter((c) => c.func === func);
  }
}

function hostFor(link: NameServiceLink) {
  const asked: { addr: NetAddr; self: Registrant | null }[] = [];
  const host: RegistryHost = {
    nameService: (addr, self) => (asked.push({ addr, self }), link),
    nameGone: () => {},
    hasServices: () => false,
  };
  return { host, asked };
}

const NS = parseAddr("127.0.0.1:8010");

function info(name: string, funcs: string[] = []): ServiceInfo {
  return { name, type: "stream", addr: { family: "inet", ip: "127.0.0.1", port: 4000 }, pid: process.pid, host: "testhost", funcs, started: 1_700_000_000_000, groups: [] };
}

/** A service that registers: its log lines are kept, its tasks recorded (halted when the test ends). */
function registrant(t: TestContext, name = "Svc") {
  const lines: { level: keyof Logger; message: string }[] = [];
  const tasks: Task[] = [];
  const log = Object.fromEntries((["debug", "info", "warn", "error"] as const).map((level) => [level, (message: string) => void lines.push({ level, message })])) as unknown as Logger;
  const self = {
    name, funcs: [] as string[], token: "a-secret-token-of-24-chars", rpcTimeout: 1234, log,
    info: (): ServiceInfo => info(self.name, self.funcs),
    claimed: () => {},
    spawn(taskName: string, body: () => Generator<Instruction, void, unknown>): Task {
      const task = spawnNamed(taskName, body);
      tasks.push(task);
      return task;
    },
  };
  t.after(() => {
    for (const task of tasks) task.halt();
  });
  return { self, lines, tasks, at: (level: keyof Logger) => lines.filter((l) => l.level === level).map((l) => l.message) };
}

// --- NameServiceRegistry ----------------------------------------------------------------------

test("lookup asks GetInfo and providers GetRemoteFunc, over the link the host gives for this service, with the caller's deadline", async (t) => {
  const fake = new FakeNameService((func, args) => {
    if (func === "GetInfo") return [(args as { name: string }).name === "Known" ? info("Known") : null, null];
    if (func === "GetRemoteFunc") return [["P1", "P2"], null];
    return [null, new RPCError("no_such_function", func)];
  });
  const { host, asked } = hostFor(fake);
  const { self } = registrant(t);
  const registry = new NameServiceRegistry(NS, host, self);
  assert.deepEqual(asked, [{ addr: NS, self }]);
  assert.equal(registry.where, "the name service at 127.0.0.1:8010");
  assert.deepEqual(await inTask(() => registry.lookup("Known", 500)), info("Known"));
  assert.equal(await inTask(() => registry.lookup("Unknown", 500)), null);
  assert.deepEqual(await inTask(() => registry.providers("Plus", 700)), ["P1", "P2"]);
  assert.deepEqual(fake.calls, [
    { func: "GetInfo", args: { name: "Known" }, timeoutMs: 500 },
    { func: "GetInfo", args: { name: "Unknown" }, timeoutMs: 500 },
    { func: "GetRemoteFunc", args: { func: "Plus" }, timeoutMs: 700 },
  ]);
});

/** A name service holding `n` registrations that pages List({ after, limit }) as the real one does. */
function paging(n: number) {
  const all = Array.from({ length: n }, (_, i) => info(`svc${String(i).padStart(4, "0")}`));
  return new FakeNameService((func, args) => {
    const { after, limit } = args as { after: string; limit: number };
    return func === "List" ? [all.filter((s) => s.name > after).slice(0, limit), null] : [null, new RPCError("no_such_function", func)];
  });
}

test("list pages through List({ after, limit }) until a short page, however many services there are", async () => {
  for (const [n, pages] of [[0, 1], [99, 1], [100, 2], [250, 3], [300, 4]] as const) {
    const fake = paging(n);
    const registry = new NameServiceRegistry(NS, hostFor(fake).host, null);
    const got = await inTask(() => registry.list(900));
    assert.deepEqual(got.map((s) => s.name), Array.from({ length: n }, (_, i) => `svc${String(i).padStart(4, "0")}`), `${n} services`);
    assert.equal(fake.calls.length, pages, `${n} services take ${pages} page(s)`);
    assert.deepEqual(fake.calls.map((c) => c.args), Array.from({ length: pages }, (_, p) => ({ after: p === 0 ? "" : `svc${String(p * LIST_PAGE - 1).padStart(4, "0")}`, limit: LIST_PAGE })));
    assert.ok(fake.calls.every((c) => c.timeoutMs === 900));
  }
});

test("list takes an answer that does not page as the whole list, and stops on a page that does not move on", async () => {
  const everything = Array.from({ length: 150 }, (_, i) => info(`s${i}`));
  const old = new FakeNameService(() => [everything, null]); // ignores after/limit: all 150 at once
  assert.equal((await inTask(() => new NameServiceRegistry(NS, hostFor(old).host, null).list(500))).length, 150);
  assert.equal(old.calls.length, 1);
  const page = Array.from({ length: LIST_PAGE }, (_, i) => info(`s${String(i).padStart(3, "0")}`));
  const stuck = new FakeNameService(() => [page, null]); // always the same full page
  const got = await inTask(() => new NameServiceRegistry(NS, hostFor(stuck).host, null).list(500));
  assert.equal(stuck.calls.length, 2, "the second page did not move past the first: that ends it");
  assert.equal(got.length, 2 * LIST_PAGE);
});

test("a name service that never answered is unavailable; once it has answered, the same failure is RegistryAwayError (worth asking again)", async () => {
  let failure: RPCError | null = new RPCError("unavailable", "connect ECONNREFUSED 127.0.0.1:8010");
  const fake = new FakeNameService(() => (failure === null ? [info("X"), null] : [null, failure]));
  const registry = new NameServiceRegistry(NS, hostFor(fake).host, null);
  const thrown = async () => {
    try {
      await inTask(() => registry.lookup("X", 100));
    } catch (error) {
      return error as RPCError;
    }
    assert.fail("lookup did not throw");
  };
  for (const code of ["unavailable", "disconnected"]) {
    failure = new RPCError(code, "gone");
    const e = await thrown();
    assert.ok(e instanceof RPCError);
    assert.ok(!(e instanceof RegistryAwayError), `${code} before any answer is not "away"`);
    assert.equal(e.code, "unavailable");
    assert.match(e.message, /the name service at 127\.0\.0\.1:8010 did not answer: gone/);
  }
  failure = new RPCError("timeout", "no answer in 100 ms");
  assert.ok(!((await thrown()) instanceof RegistryAwayError));
  assert.equal((await thrown()).code, "timeout", "a timeout is a timeout, as for any call");
  failure = null;
  assert.deepEqual(await inTask(() => registry.lookup("X", 100)), info("X"));
  for (const code of ["unavailable", "disconnected"]) {
    failure = new RPCError(code, "restarting");
    const e = await thrown();
    assert.ok(e instanceof RegistryAwayError, `${code} after an answer is RegistryAwayError`);
    assert.equal(e.code, "unavailable");
  }
  failure = new RPCError("timeout", "connected but silent");
  const late = await thrown();
  assert.ok(!(late instanceof RegistryAwayError));
  assert.equal(late.code, "timeout");
  failure = new RPCError("bad_request", "what?");
  assert.equal((await thrown()).code, "bad_request", "other errors pass through as they are");
});

test("register claims the name with Register (its info and token), heartbeats while held, registers again when the link drops or a function is added", async (t) => {
  const fake = new FakeNameService();
  const { self, at } = registrant(t);
  const registry = new NameServiceRegistry(NS, hostFor(fake).host, self);
  const outcomes: (LuanetError | null)[] = [];
  const kept = registry.register(self, (error) => outcomes.push(error));
  await until(() => outcomes.length === 1, "the first outcome");
  assert.deepEqual(outcomes, [null]);
  assert.deepEqual(fake.named("Register"), [{ func: "Register", args: { ...info("Svc"), token: self.token }, timeoutMs: self.rpcTimeout }]);
  await until(() => fake.heartbeats >= 1, "a heartbeat");
  assert.deepEqual(at("info"), ["Svc registered with the name service at 127.0.0.1:8010"]);
  const t0 = performance.now();
  fake.reconnect();
  await until(() => fake.named("Register").length === 2, "a second Register after the link dropped");
  assert.ok(performance.now() - t0 < 900, "at once, not at the next heartbeat");
  self.funcs = ["Plus"];
  kept.republish();
  await until(() => fake.named("Register").length === 3, "a third Register for the new function");
  assert.deepEqual((fake.named("Register")[2]!.args as ServiceInfo).funcs, ["Plus"]);
  assert.equal(outcomes.length, 1, "onFirst is told once");
});

test("register: a first Register refused name_taken is onFirst's error and ends the registrar; one that succeeds makes later failures RegistryAwayError", async (t) => {
  const taken = new FakeNameService((func) => (func === "Register" ? [null, new RPCError("name_taken", "held by pid 1")] : [null, null]));
  const one = registrant(t);
  const outcomes: (LuanetError | null)[] = [];
  new NameServiceRegistry(NS, hostFor(taken).host, one.self).register(one.self, (error) => outcomes.push(error));
  await until(() => outcomes.length === 1 && one.tasks[0]!.done, "the registrar to end");
  assert.equal(outcomes[0]?.code, "name_taken");
  await pause(20);
  assert.equal(taken.calls.length, 1);

  let away = false;
  const flaky = new FakeNameService((func) => (away ? [null, new RPCError("disconnected", "dropped")] : func === "Register" ? [null, null] : [info("Y"), null]));
  const two = registrant(t);
  const registry = new NameServiceRegistry(NS, hostFor(flaky).host, two.self);
  const done: (LuanetError | null)[] = [];
  registry.register(two.self, (error) => done.push(error));
  await until(() => done.length === 1, "registered");
  away = true;
  await assert.rejects(inTask(() => registry.lookup("Y", 100)), RegistryAwayError, "the registration was an answer");
});

// --- keepRegistered -------------------------------------------------------------------------

/** A Claimer whose claims follow `script` (then keep its last step): "ok", "refuse", "away", or
 * an Error to throw; each hold() returns at once while `holdsThatReturn` lasts, then blocks. */
function claimer(script: (string | Error)[], opts: { retryMaxMs?: number; reclaimMs?: number; holdsThatReturn?: number; onHold?: (n: number) => void } = {}) {
  const claims: { at: number; info: ServiceInfo }[] = [];
  let holds = 0;
  const c: Claimer & { claims: typeof claims; readonly holds: number } = {
    registeredWhere: "with the fake",
    lostWhere: "at the fake",
    retryMaxMs: opts.retryMaxMs ?? 250,
    reclaimMs: opts.reclaimMs ?? 2000,
    claims,
    get holds() {
      return holds;
    },
    *claim(info) {
      claims.push({ at: performance.now(), info });
      yield* Sleep(0);
      const step = script[Math.min(claims.length - 1, script.length - 1)]!;
      if (step instanceof Error) throw step;
      if (step === "away") throw new RPCError("unavailable", "the fake is away");
      if (step === "refuse") return new LuanetError("name_taken", "someone else has it");
      return null;
    },
    *hold() {
      holds++;
      opts.onHold?.(holds);
      if (holds <= (opts.holdsThatReturn ?? 0)) return;
      yield* Block();
    },
  };
  return c;
}

const gaps = (c: { claims: { at: number }[] }) => c.claims.slice(1).map((x, i) => x.at - c.claims[i]!.at);

/** Run the registrar loop for `self` in a task of its own. */
function run(r: ReturnType<typeof registrant>, c: Claimer) {
  const outcomes: (LuanetError | null)[] = [];
  const task = r.self.spawn("registrar", () => keepRegistered(r.self, c, (error) => outcomes.push(error)));
  return { outcomes, task };
}

test("keepRegistered retries with doubling backoff, capped at retryMaxMs, while claim throws RPCError; one warning, then registered", async (t) => {
  t.mock.method(Math, "random", () => 0.999999); // no jitter: each wait is the full delay
  const r = registrant(t);
  const c = claimer(["away", "away", "away", "away", "ok"], { retryMaxMs: 150 });
  const { outcomes } = run(r, c);
  await until(() => outcomes.length === 1, "registered", 5000);
  assert.deepEqual(outcomes, [null]);
  assert.equal(c.claims.length, 5);
  const [g1, g2, g3, g4] = gaps(c) as [number, number, number, number];
  assert.ok(g1 >= 97, `first wait ${g1} ms, expected 100`);
  assert.ok(g2 >= 147, `second wait ${g2} ms, expected 150 (200 capped at retryMaxMs)`);
  for (const g of [g3, g4]) assert.ok(g >= 147 && g < 350, `later wait ${g} ms, expected 150 (capped; 400 or 800 without the cap)`);
  assert.equal(r.at("warn").length, 1, "one warning for the whole outage");
  assert.match(r.at("warn")[0]!, /cannot register Svc with the fake \(the fake is away\); retrying until it answers/);
  assert.deepEqual(r.at("info"), ["Svc registered with the fake"]);
  assert.equal(c.holds, 1);
});

test("keepRegistered starts its backoff over after a success", async (t) => {
  t.mock.method(Math, "random", () => 0.999999);
  const r = registrant(t);
  const c = claimer(["away", "away", "ok", "away", "ok"], { retryMaxMs: 1000, holdsThatReturn: 1 });
  const { outcomes } = run(r, c);
  await until(() => c.holds === 2, "held twice", 5000);
  assert.deepEqual(outcomes, [null]);
  const [g1, g2, g3, g4] = gaps(c) as [number, number, number, number];
  assert.ok(g1 >= 97 && g2 >= 197, `waits ${g1}, ${g2}: expected 100, 200`);
  assert.ok(g3 < 90, `after the hold ended, claimed again at once (${g3} ms)`);
  assert.ok(g4 >= 97 && g4 < 300, `after a success the wait is 100 again, not 400 (${g4} ms)`);
  assert.equal(r.at("warn").length, 2, "a new outage, a new warning");
  assert.deepEqual(r.at("info"), ["Svc registered with the fake", "Svc registered with the fake again"]);
});

test("keepRegistered: a refusal on the first claim ends it with onFirst(refusal), and it never holds", async (t) => {
  const r = registrant(t);
  const c = claimer(["refuse", "ok"]);
  const { outcomes, task } = run(r, c);
  await until(() => task.done, "the loop to end");
  assert.equal(outcomes.length, 1);
  assert.equal(outcomes[0]?.code, "name_taken");
  assert.equal(c.claims.length, 1);
  assert.equal(c.holds, 0);
});

test("keepRegistered: a refusal after it was registered is retried every reclaimMs (one error logged), then it holds again", async (t) => {
  const r = registrant(t);
  const c = claimer(["ok", "refuse", "refuse", "ok"], { reclaimMs: 60, holdsThatReturn: 1 });
  const { outcomes, task } = run(r, c);
  await until(() => c.holds === 2, "held again after reclaiming", 5000);
  assert.deepEqual(outcomes, [null], "onFirst was told once, of the first success");
  assert.equal(c.claims.length, 4);
  const [g1, g2, g3] = gaps(c) as [number, number, number];
  assert.ok(g1 < 50, `the first hold ended: claimed again at once (${g1} ms)`);
  assert.ok(g2 >= 57 && g3 >= 57, `refused claims retried every 60 ms (${g2}, ${g3})`);
  assert.equal(r.at("error").length, 1);
  assert.match(r.at("error")[0]!, /Svc lost its name at the fake \(someone else has it\); trying again every 60 ms/);
  assert.deepEqual(r.at("info"), ["Svc registered with the fake", "Svc registered with the fake again"]);
  assert.ok(!task.done);
});

test("keepRegistered: hold() returning means claim again, each time with the service's current info", async (t) => {
  const r = registrant(t);
  const c = claimer(["ok"], { holdsThatReturn: 3, onHold: (n) => n === 2 && (r.self.funcs = ["Added"]) });
  run(r, c);
  await until(() => c.holds === 4, "the fourth hold, which blocks");
  assert.equal(c.claims.length, 4);
  assert.deepEqual(c.claims.map((x) => x.info.funcs), [[], [], ["Added"], ["Added"]]);
  assert.deepEqual(r.at("info"), ["Svc registered with the fake"], "a routine re-claim is not news");
});

test("keepRegistered: info that is not a valid registration fails the first attempt with bad_request, without claiming", async (t) => {
  const r = registrant(t, " bad name ");
  const c = claimer(["ok"]);
  const { outcomes, task } = run(r, c);
  await until(() => task.done, "the loop to end");
  assert.equal(outcomes[0]?.code, "bad_request");
  assert.equal(c.claims.length, 0);
});

test("keepRegistered: an error that is not an RPCError is not retried: it fails the registrar's task", async (t) => {
  const r = registrant(t);
  const c = claimer([new TypeError("a bug in the claimer")]);
  const { outcomes, task } = run(r, c);
  await assert.rejects(inTask(function* () { yield* task; }), /a bug in the claimer/);
  assert.deepEqual(outcomes, []);
  assert.equal(c.claims.length, 1);
});

// --- RegistryChoice -------------------------------------------------------------------------

const nullHost: RegistryHost = { nameService: () => new FakeNameService(), nameGone: () => {}, hasServices: () => false };
const ns = (addr: string): RegistrySpec => ({ kind: "nameservice", addr: parseAddr(addr) });

test("RegistryChoice: the default name service, unless the script asks for one, unless the process pins one", () => {
  const choice = new RegistryChoice(nullHost, {});
  assert.deepEqual(choice.specFor(null), ns("127.0.0.1:8010"));
  assert.deepEqual(choice.specFor(ns("127.0.0.1:9001")), ns("127.0.0.1:9001"));
  assert.equal(choice.overrules(ns("127.0.0.1:9001")), false);
  choice.pin(ns("127.0.0.1:9999"));
  assert.deepEqual(choice.specFor(null), ns("127.0.0.1:9999"));
  assert.deepEqual(choice.specFor(ns("127.0.0.1:9001")), ns("127.0.0.1:9999"));
  assert.equal(choice.overrules(ns("127.0.0.1:9001")), true);
  assert.equal(choice.overrules(ns("127.0.0.1:9999")), false, "asking for the pinned one is not overruled");
});

test("RegistryChoice: LUANET_REGISTRY, else LUANET_NS, pins; empty values count as unset", () => {
  const pinned = (env: NodeJS.ProcessEnv) => new RegistryChoice(nullHost, env).specFor(ns("127.0.0.1:9001"));
  assert.deepEqual(pinned({ LUANET_NS: "127.0.0.1:7000" }), ns("127.0.0.1:7000"));
  assert.deepEqual(pinned({ LUANET_REGISTRY: "127.0.0.1:7100", LUANET_NS: "127.0.0.1:7000" }), ns("127.0.0.1:7100"));
  assert.equal((pinned({ LUANET_REGISTRY: "etcd://127.0.0.1:2379/apps" }) as { url: string }).url, "etcd://127.0.0.1:2379/apps");
  assert.deepEqual(pinned({ LUANET_REGISTRY: "", LUANET_NS: "" }), ns("127.0.0.1:9001"));
  assert.deepEqual(pinned({ LUANET_REGISTRY: "", LUANET_NS: "127.0.0.1:7000" }), ns("127.0.0.1:7000"));
});

test("RegistryChoice reads the environment when first needed, once; pin() before that means it is never read", () => {
  const env: NodeJS.ProcessEnv = { LUANET_NS: "not an address" };
  const choice = new RegistryChoice(nullHost, env); // no throw: nothing read yet
  env.LUANET_NS = "127.0.0.1:7000";
  assert.deepEqual(choice.specFor(null), ns("127.0.0.1:7000"), "the value at first use");
  env.LUANET_NS = "127.0.0.1:7001";
  assert.deepEqual(choice.specFor(null), ns("127.0.0.1:7000"), "read once");
  const bad = new RegistryChoice(nullHost, { LUANET_REGISTRY: "etcd://" });
  assert.throws(() => bad.specFor(null), TypeError);
  const pinnedFirst = new RegistryChoice(nullHost, { LUANET_REGISTRY: "etcd://" });
  pinnedFirst.pin(ns("127.0.0.1:7200"));
  assert.deepEqual(pinnedFirst.specFor(null), ns("127.0.0.1:7200"));
});

test("RegistryChoice.forService: a name service client per service (over its own link), one etcd client per address", () => {
  const { host, asked } = hostFor(new FakeNameService());
  const choice = new RegistryChoice(host, {});
  const a = { name: "A" } as Registrant, b = { name: "B" } as Registrant;
  const ra = choice.forService(ns("127.0.0.1:7000"), a);
  const rb = choice.forService(ns("127.0.0.1:7000"), b);
  assert.ok(ra instanceof NameServiceRegistry && rb instanceof NameServiceRegistry);
  assert.notEqual(ra, rb);
  assert.deepEqual(asked.map((x) => [x.self, x.addr]), [[a, parseAddr("127.0.0.1:7000")], [b, parseAddr("127.0.0.1:7000")]]);
  const etcd: RegistrySpec = { kind: "etcd", hosts: ["127.0.0.1:1"], prefix: "/luanet", url: "etcd://127.0.0.1:1" };
  const e1 = choice.forService(etcd, a);
  assert.ok(e1 instanceof EtcdRegistry);
  assert.equal(choice.forService(etcd, b), e1, "shared");
  assert.notEqual(choice.forService({ ...etcd, hosts: ["127.0.0.1:2"], url: "etcd://127.0.0.1:2" }, a), e1);
});
