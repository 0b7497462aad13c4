/**
 * A service's dispatcher in-process: calls arrive as frames on fake links accepted by a Runtime's
 * root service, and the replies it sends are decoded and checked.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LuanetError, RPCError } from "../runtime/errors.ts";
import { Block, WakeUp } from "../runtime/scheduler/block.ts";
import { Sleep } from "../runtime/scheduler/sleep.ts";
import { Running } from "../runtime/scheduler/spawn.ts";
import type { Task } from "../runtime/scheduler/task.ts";
import type { CallContext } from "../runtime/service/dispatch.ts";
import type { Service } from "../runtime/service/service.ts";
import { decode, decodedCost, encode, Type, type Envelope } from "../runtime/wire/envelope.ts";
import { acceptedConn, arrive, fakeLink, newRuntime, pause, until, type FakeLink } from "./helpers/inproc.ts";

/** The root service of a fresh runtime, with one accepted connection from "Caller". */
function setup(opts: { reliable?: boolean } = {}) {
  const service = newRuntime().root;
  const link = fakeLink("caller:1", opts);
  const conn = acceptedConn(service, link);
  return { service, link, conn };
}

type Reply = { type: "reply"; id: number; result: unknown } | { type: "error"; id: number; code: string; message: string; stack: string | null };

function replies(link: FakeLink): Reply[] {
  return link.frames().map((f) => {
    if (f[0] === Type.REPLY) return { type: "reply", id: f[1], result: f[2] };
    if (f[0] === Type.ERROR) return { type: "error", id: f[1], code: f[2], message: f[3], stack: f[4] };
    throw new Error(`unexpected frame ${JSON.stringify(f)}`);
  });
}

/**
 * A generator handler whose calls block until released: `started` lists the calls whose body
 * runs, `release(i)` lets call i return `value(args)`.
 */
function gatedHandler(service: Service, name: string) {
  const waiting: { task: Task; args: unknown }[] = [];
  const started: unknown[] = [];
  let running = 0;
  let mostAtOnce = 0;
  service.dispatcher.handlers.set(name, function* (args: unknown) {
    started.push(args);
    running++;
    mostAtOnce = Math.max(mostAtOnce, running);
    try {
      waiting.push({ task: Running()!, args });
      yield* Block();
      return { done: args };
    } finally {
      running--;
    }
  });
  return {
    started,
    get mostAtOnce() {
      return mostAtOnce;
    },
    /** Release the call whose args are `args`. */
    release(args: unknown): void {
      const i = waiting.findIndex((w) => w.args === args);
      assert.ok(i >= 0, `no call with args ${String(args)} is blocked`);
      const [w] = waiting.splice(i, 1);
      assert.ok(WakeUp(w!.task));
    },
    get blocked(): unknown[] {
      return waiting.map((w) => w.args);
    },
  };
}

test("a plain handler's return value is the REPLY, sent at once, with the caller's name in ctx", () => {
  const { service, link, conn } = setup();
  let seen: CallContext | null = null;
  service.dispatcher.handlers.set("Plus", ({ a, b }: { a: number; b: number }, ctx: CallContext) => {
    seen = ctx;
    return a + b;
  });
  arrive(conn, [Type.CALL, 7, "Plus", { a: 1, b: 2 }, 1000]);
  assert.deepEqual(replies(link), [{ type: "reply", id: 7, result: 3 }]);
  assert.deepEqual(seen, { from: "Caller", func: "Plus", conn, session: null });
});

test("a generator handler runs in a task of its own and replies when it returns; an async one when it resolves", async () => {
  const { service, link, conn } = setup();
  service.dispatcher.handlers.set("Slow", function* (x: number) {
    yield* Sleep(20);
    return x * 2;
  });
  service.dispatcher.handlers.set("Async", async (x: number) => {
    await pause(5);
    return `async ${x}`;
  });
  const t0 = performance.now();
  arrive(conn, [Type.CALL, 1, "Slow", 21, 1000]);
  arrive(conn, [Type.CALL, 2, "Async", 5]);
  assert.equal(link.sent.length, 0, "neither answers synchronously");
  await until(() => link.sent.length === 2, "both replies");
  assert.ok(performance.now() - t0 >= 19, "the generator's Sleep(20) ran before it replied");
  assert.deepEqual(replies(link), [{ type: "reply", id: 2, result: "async 5" }, { type: "reply", id: 1, result: 42 }]);
});

test("a call to a function the service does not have is answered no_such_function", () => {
  const { link, conn } = setup();
  arrive(conn, [Type.CALL, 3, "Nope", null, 1000]);
  const [r] = replies(link);
  assert.equal(r?.type, "error");
  assert.equal(r.type === "error" && r.code, "no_such_function");
  assert.match(r.type === "error" ? r.message : "", /no function "Nope"/);
  assert.equal(link.sent.length, 1);
});

test("a thrown error is the caller's remote_error, with its message and the handler's stack", async () => {
  const { service, link, conn } = setup();
  service.dispatcher.handlers.set("Explode", function explodingHandler() {
    throw new Error("boom");
  });
  service.dispatcher.handlers.set("ExplodeLater", function* explodingLater() {
    yield* Sleep(1);
    throw new TypeError("later boom");
  });
  service.dispatcher.handlers.set("ThrowString", () => {
    throw "just a string"; // eslint-disable-line no-throw-literal
  });
  arrive(conn, [Type.CALL, 1, "Explode", null]);
  arrive(conn, [Type.CALL, 2, "ExplodeLater", null]);
  arrive(conn, [Type.CALL, 3, "ThrowString", null]);
  await until(() => link.sent.length === 3, "three errors");
  const byId = new Map(replies(link).map((r) => [r.id, r]));
  const one = byId.get(1)!, two = byId.get(2)!, three = byId.get(3)!;
  assert.ok(one.type === "error" && two.type === "error" && three.type === "error");
  assert.equal(one.code, "remote_error");
  assert.equal(one.message, "boom");
  assert.match(one.stack ?? "", /explodingHandler/);
  assert.equal(two.code, "remote_error");
  assert.equal(two.message, "later boom");
  assert.match(two.stack ?? "", /explodingLater/);
  assert.deepEqual([three.code, three.message, three.stack], ["remote_error", "just a string", null]);
});

test("a LuanetError a handler throws keeps its code; an RPCError from a call it made is remote_error", async () => {
  const { service, link, conn } = setup();
  service.dispatcher.handlers.set("Login", () => {
    throw new LuanetError("bad_credentials", "wrong password");
  });
  service.dispatcher.handlers.set("LoginLater", function* () {
    yield* Sleep(1);
    throw new LuanetError("bad_credentials", "wrong password, later");
  });
  service.dispatcher.handlers.set("Relay", () => {
    throw new RPCError("timeout", "the service it called did not answer");
  });
  arrive(conn, [Type.CALL, 1, "Login", null]);
  arrive(conn, [Type.CALL, 2, "LoginLater", null]);
  arrive(conn, [Type.CALL, 3, "Relay", null]);
  await until(() => link.sent.length === 3, "three errors");
  const codes = Object.fromEntries(replies(link).map((r) => [r.id, r.type === "error" ? [r.code, r.message] : r]));
  assert.deepEqual(codes, {
    1: ["bad_credentials", "wrong password"],
    2: ["bad_credentials", "wrong password, later"],
    3: ["remote_error", "the service it called did not answer"],
  });
});

test("maxConcurrentHandlers run at once, handlerQueue more wait, and the next is refused overloaded", async () => {
  const { service, link, conn } = setup();
  Object.assign(service.config, { maxConcurrentHandlers: 2, handlerQueue: 1 });
  const gate = gatedHandler(service, "Work");
  for (let id = 1; id <= 4; id++) arrive(conn, [Type.CALL, id, "Work", id, 5000]);
  // The fourth finds two running and one queued: refused at once.
  assert.equal(link.sent.length, 1);
  const [refused] = replies(link);
  assert.ok(refused?.type === "error");
  assert.equal(refused.id, 4);
  assert.equal(refused.code, "overloaded");
  await until(() => gate.blocked.length === 2, "two handlers running");
  assert.deepEqual(gate.started, [1, 2], "the queued call's body has not started");
  gate.release(2);
  await until(() => gate.blocked.length === 2 && gate.started.length === 3, "the queued call to start in the freed slot");
  gate.release(1);
  gate.release(3);
  await until(() => link.sent.length === 4, "every reply");
  assert.deepEqual(replies(link).slice(1), [
    { type: "reply", id: 2, result: { done: 2 } },
    { type: "reply", id: 1, result: { done: 1 } },
    { type: "reply", id: 3, result: { done: 3 } },
  ]);
  assert.equal(gate.mostAtOnce, 2);
});

test("the handler queue is bounded in bytes too: a call whose decoded size would pass handlerQueueBytes is overloaded", async () => {
  const { service, link, conn } = setup();
  const gate = gatedHandler(service, "Work");
  const small: Envelope = [Type.CALL, 2, "Work", "small", 5000];
  decode(encode(small));
  const smallCost = decodedCost();
  Object.assign(service.config, { maxConcurrentHandlers: 1, handlerQueue: 100, handlerQueueBytes: smallCost * 2 + 50 }); // room for two small calls, not for a 1000-byte one
  arrive(conn, [Type.CALL, 1, "Work", "first", 5000]); // runs
  arrive(conn, small); // queued: smallCost bytes (~130)
  arrive(conn, [Type.CALL, 3, "Work", "x".repeat(1000), 5000]); // would pass the bound
  arrive(conn, [Type.CALL, 4, "Work", "tiny", 5000]); // still fits
  assert.deepEqual(replies(link).map((r) => [r.id, r.type === "error" ? r.code : "ok"]), [[3, "overloaded"]]);
  await until(() => gate.blocked.length === 1, "the first call running");
  for (const args of ["first", "small", "tiny"]) {
    await until(() => gate.blocked.includes(args), `call ${args} running`);
    gate.release(args);
  }
  await until(() => link.sent.length === 4, "every reply");
  assert.deepEqual(replies(link).slice(1).map((r) => r.id), [1, 2, 4]);
});

test("a queued call whose deadline passed is dropped unanswered, and so is one whose link closed; the rest still run", async () => {
  const { service, link, conn } = setup();
  Object.assign(service.config, { maxConcurrentHandlers: 1 });
  const gate = gatedHandler(service, "Work");
  const otherLink = fakeLink("other:2");
  const other = acceptedConn(service, otherLink, "Other");
  arrive(conn, [Type.CALL, 1, "Work", "running", 5000]);
  arrive(conn, [Type.CALL, 2, "Work", "expires", 30]); // the caller gives up after 30 ms
  arrive(other, [Type.CALL, 5, "Work", "link closes", 5000]);
  arrive(conn, [Type.CALL, 3, "Work", "no deadline"]); // a CALL without timeoutMs waits as long as it takes
  await until(() => gate.blocked.length === 1, "the first call running");
  otherLink.close();
  await pause(60);
  gate.release("running");
  await until(() => gate.blocked.includes("no deadline"), "the call with no deadline to run");
  gate.release("no deadline");
  await until(() => link.sent.length === 2, "two replies");
  await pause(20);
  assert.deepEqual(replies(link).map((r) => r.id), [1, 3]);
  assert.equal(otherLink.sent.length, 0);
  assert.deepEqual(gate.started, ["running", "no deadline"], "the dropped calls' handlers never ran");
});

test("stop() answers queued calls shutting_down at once, and every call after it; a handler already running still replies", async () => {
  const { service, link, conn } = setup();
  Object.assign(service.config, { maxConcurrentHandlers: 1 });
  const gate = gatedHandler(service, "Work");
  service.dispatcher.handlers.set("Plain", () => "plain");
  arrive(conn, [Type.CALL, 1, "Work", 1, 5000]);
  arrive(conn, [Type.CALL, 2, "Work", 2, 5000]);
  arrive(conn, [Type.CALL, 3, "Work", 3, 5000]);
  await until(() => gate.blocked.length === 1, "the first call running");
  service.dispatcher.stop();
  assert.deepEqual(replies(link).map((r) => [r.id, r.type === "error" ? r.code : "ok"]), [[2, "shutting_down"], [3, "shutting_down"]]);
  arrive(conn, [Type.CALL, 4, "Plain", null, 5000]);
  arrive(conn, [Type.CALL, 5, "Nope", null, 5000]);
  assert.deepEqual(replies(link).slice(2).map((r) => [r.id, r.type === "error" ? r.code : "ok"]), [[4, "shutting_down"], [5, "shutting_down"]]);
  gate.release(1);
  await until(() => link.sent.length === 5, "the running call's reply");
  assert.deepEqual(replies(link)[4], { type: "reply", id: 1, result: { done: 1 } });
  assert.deepEqual(gate.started, [1], "no queued call started after stop()");
});

test("stopping the service halts its running handlers: each is answered shutting_down", async () => {
  const runtime = newRuntime();
  const service = runtime.root;
  const link = fakeLink("caller:1");
  const conn = acceptedConn(service, link);
  const gate = gatedHandler(service, "Work");
  arrive(conn, [Type.CALL, 1, "Work", 1, 5000]);
  arrive(conn, [Type.CALL, 2, "Work", 2, 5000]);
  await until(() => gate.blocked.length === 2, "two handlers running");
  await runtime.stopService(service, "the test stops it");
  await until(() => link.sent.length + link.lost.length === 2, "two answers");
  // Fails today (a bug): Service.stop closes the service's links (links.closeAll) in the same
  // tick as it halts the handler tasks, whose finally blocks answer shutting_down only on their
  // next step, on a link that is closed by then. A real link drops those answers; the callers
  // see "disconnected" instead (tests/unit-stop.test.ts shows it over TCP).
  assert.equal(link.lost.length, 0, `${link.lost.length} shutting_down answer(s) were sent after the link was closed`);
  assert.deepEqual(replies(link).map((r) => [r.id, r.type === "error" ? r.code : "ok"]).sort(), [[1, "shutting_down"], [2, "shutting_down"]]);
  assert.ok(link.closed, "its accepted link was closed");
});

test("on a link that loses frames a resent call runs once: a duplicate is ignored while it runs, then answered from the cache", async () => {
  const { service, link, conn } = setup({ reliable: false });
  const gate = gatedHandler(service, "Work");
  let plainRuns = 0;
  service.dispatcher.handlers.set("Plain", () => ++plainRuns);
  arrive(conn, [Type.CALL, 9, "Work", "once", 5000]);
  await until(() => gate.blocked.length === 1, "the handler running");
  arrive(conn, [Type.CALL, 9, "Work", "once", 5000]); // resent while it runs
  await pause(10);
  assert.equal(link.sent.length, 0, "nothing is sent for a duplicate of a running call");
  assert.deepEqual(gate.started, ["once"]);
  gate.release("once");
  await until(() => link.sent.length === 1, "the reply");
  arrive(conn, [Type.CALL, 9, "Work", "once", 5000]); // the reply was lost: resent again
  assert.equal(link.sent.length, 2);
  assert.deepEqual(link.sent[1], link.sent[0], "the cached reply is sent again, byte for byte");
  assert.deepEqual(gate.started, ["once"], "the handler ran once");
  // A plain handler, and an error reply, are cached the same way.
  arrive(conn, [Type.CALL, 10, "Plain", null]);
  arrive(conn, [Type.CALL, 10, "Plain", null]);
  arrive(conn, [Type.CALL, 11, "Nope", null]);
  arrive(conn, [Type.CALL, 11, "Nope", null]);
  assert.equal(plainRuns, 1);
  assert.deepEqual(replies(link).slice(2).map((r) => [r.id, r.type === "error" ? r.code : r.result]), [[10, 1], [10, 1], [11, "no_such_function"], [11, "no_such_function"]]);
});

test("on a reliable link nothing is cached: an id used again after its reply is a new call", () => {
  const { service, link, conn } = setup();
  let runs = 0;
  service.dispatcher.handlers.set("Plain", () => ++runs);
  arrive(conn, [Type.CALL, 10, "Plain", null]);
  arrive(conn, [Type.CALL, 10, "Plain", null]);
  assert.equal(runs, 2);
  assert.equal(conn.recent, null);
  assert.deepEqual(replies(link).map((r) => r.type === "reply" && r.result), [1, 2]);
});
