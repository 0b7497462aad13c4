/**
 * Calls and messages between two services of one Runtime (service/local-call.ts), through the
 * luanet API (api.ts RPCCall/SendMsg with the calling service as `self`): they skip the network,
 * keep the remote semantics (codes, deadlines, handler limits, mailbox bounds), and hand the
 * receiver copies, never the sender's objects.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { netaddr_ipv4 } from "../stdlib/net.ts";
import { LuanetError } from "../runtime/errors.ts";
import { Block, WakeUp } from "../runtime/scheduler/block.ts";
import { Sleep } from "../runtime/scheduler/sleep.ts";
import { Running } from "../runtime/scheduler/spawn.ts";
import type { Task } from "../runtime/scheduler/task.ts";
import { RPCCall, SendMsg } from "../runtime/service/api.ts";
import type { CallContext } from "../runtime/service/dispatch.ts";
import { Service } from "../runtime/service/service.ts";
import { inTask, newRuntime, pause, until } from "./helpers/inproc.ts";

/** Services "A" (the runtime's root) and "B" (a second one), both listening on 127.0.0.1:0;
 * stopped when the test ends. */
async function pair(t: TestContext) {
  const runtime = newRuntime();
  const a = runtime.root;
  const b = new Service(runtime, null, [], runtime.root);
  await a.listen("A", "stream", netaddr_ipv4("127.0.0.1", 0), undefined);
  await b.listen("B", "stream", netaddr_ipv4("127.0.0.1", 0), undefined);
  t.after(() => Promise.all([runtime.stopService(b, "test over"), runtime.stopService(a, "test over")]));
  return { runtime, a, b, links: () => runtime.links.where(() => true).length };
}

test("A calls B and B calls A by name: the results come back, ctx.from names the caller, and no connection is opened", async (t) => {
  const { a, b, links } = await pair(t);
  const seen: CallContext[] = [];
  b.dispatcher.handlers.set("Plus", ({ x, y }: { x: number; y: number }, ctx: CallContext) => (seen.push(ctx), x + y));
  a.dispatcher.handlers.set("Hello", function* (who: string, ctx: CallContext) {
    seen.push(ctx);
    yield* Sleep(1);
    return `hello ${who}`;
  });
  assert.deepEqual(await inTask(() => RPCCall(a, "B", "Plus", { x: 1, y: 2 })), [3, null]);
  assert.deepEqual(await inTask(() => RPCCall(b, "A", "Hello", "B")), ["hello B", null]);
  assert.deepEqual(seen, [{ from: "A", func: "Plus", conn: null, session: null }, { from: "B", func: "Hello", conn: null, session: null }]);
  assert.equal(links(), 0, "no link was opened");
  // Each side's counters see the other as a peer, in both directions (stats/counters.ts).
  assert.deepEqual([a.counters.peer("B").callsOut, b.counters.peer("A").callsIn, b.counters.peer("A").callsOut, a.counters.peer("B").callsIn], [1, 1, 1, 1]);
  assert.equal(b.counters.funcs.get("Plus")?.calls, 1);
  assert.equal(a.counters.funcs.get("Hello")?.latency.total.count, 1);
});

test("the callee gets a copy of the arguments and the caller a copy of the result: neither sees the other mutate them", async (t) => {
  const { a, b } = await pair(t);
  const kept = { count: 1, list: [1, 2] };
  let received: { nested: { n: number } } | null = null;
  b.dispatcher.handlers.set("Take", (args: { nested: { n: number } }) => {
    received = args;
    args.nested.n = 999; // the receiver mutates what it got
    return kept;
  });
  const sent = { nested: { n: 1 } };
  const [result, err] = await inTask(() => RPCCall<typeof kept>(a, "B", "Take", sent));
  assert.equal(err, null);
  assert.notEqual(received, sent);
  assert.equal(sent.nested.n, 1, "the caller's object is untouched");
  assert.deepEqual(result, { count: 1, list: [1, 2] });
  assert.notEqual(result, kept);
  result!.count = 42;
  result!.list.push(3);
  assert.deepEqual(kept, { count: 1, list: [1, 2] }, "the callee's object is untouched");
  const [again] = await inTask(() => RPCCall<typeof kept>(a, "B", "Take", sent));
  assert.notEqual(again, result, "each reply is a fresh copy");
});

test("a message from A lands in B's mailbox as a copy, from A, in the order sent", async (t) => {
  const { a, b, links } = await pair(t);
  const msg = { seq: 0, body: { text: "hi" } };
  const errors = await inTask(function* () {
    const out = [];
    for (let seq = 1; seq <= 3; seq++) {
      msg.seq = seq;
      out.push(yield* SendMsg(a, "B", msg));
    }
    return out;
  });
  assert.deepEqual(errors, [null, null, null]);
  msg.body.text = "changed after sending";
  const got = await inTask(function* () {
    return [yield* b.mailbox.getMsg, yield* b.mailbox.getMsg, yield* b.mailbox.getMsg];
  });
  assert.deepEqual(got.map((m) => [m.from, (m.msg as typeof msg).seq, (m.msg as typeof msg).body.text]), [["A", 1, "hi"], ["A", 2, "hi"], ["A", 3, "hi"]]);
  assert.equal(links(), 0);
});

test("local calls fail with the remote codes: no_such_function, remote_error with a stack, a LuanetError's own code, bad_value, too_large", async (t) => {
  const { a, b } = await pair(t);
  b.dispatcher.handlers.set("Explode", function explodeInB() {
    throw new Error("boom in B");
  });
  b.dispatcher.handlers.set("Deny", function* () {
    yield* Sleep(1);
    throw new LuanetError("bad_credentials", "no");
  });
  b.dispatcher.handlers.set("GiveFunction", () => ({ f: () => 1 }));
  b.dispatcher.handlers.set("Echo", (x: unknown) => x);
  const code = async (func: string, args: unknown = null) => {
    const [ret, err] = await inTask(() => RPCCall(a, "B", func, args));
    assert.equal(ret, null);
    return err;
  };
  assert.equal((await code("Nope"))?.code, "no_such_function");
  const boom = await code("Explode");
  assert.equal(boom?.code, "remote_error");
  assert.equal(boom?.message, "boom in B");
  assert.match(boom?.remoteStack ?? "", /explodeInB/);
  assert.deepEqual([(await code("Deny"))?.code, (await code("Deny"))?.message], ["bad_credentials", "no"]);
  assert.equal((await code("Echo", { f: () => 1 }))?.code, "bad_value", "arguments that cannot cross the wire");
  assert.equal((await code("GiveFunction"))?.code, "bad_value", "a result that cannot cross the wire");
  a.config.maxFrameBytes = 1000;
  assert.equal((await code("Echo", "x".repeat(2000)))?.code, "too_large", "a call over the caller's maxFrameBytes");
  a.config.maxFrameBytes = 16 << 20;
  b.config.maxFrameBytes = 1000;
  assert.deepEqual(await inTask(() => RPCCall(a, "B", "Echo", "small")), ["small", null]);
  assert.equal((await code("Echo", "y".repeat(2000)))?.code, "too_large", "a reply over the callee's maxFrameBytes");
});

test("a local call's deadline holds: a slow handler's caller gets timeout on time, and the late result goes nowhere", async (t) => {
  const { a, b } = await pair(t);
  let finished = false;
  b.dispatcher.handlers.set("Slow", function* () {
    yield* Sleep(300);
    finished = true;
    return "late";
  });
  const t0 = performance.now();
  const [ret, err] = await inTask(() => RPCCall(a, "B", "Slow", null, { timeout: 40 }));
  const took = performance.now() - t0;
  assert.equal(ret, null);
  assert.equal(err?.code, "timeout");
  assert.ok(took >= 39 && took < 250, `the 40 ms call took ${took} ms`);
  await until(() => finished, "the handler to finish");
  await pause(5); // its reply finds no caller, and nothing breaks
  assert.deepEqual(await inTask(() => RPCCall(a, "B", "Nope", null)).then(([, e]) => e?.code), "no_such_function");
});

test("a local call takes the callee's handler queue: overloaded past it, dropped unrun once its caller gave up, shutting_down after stop", async (t) => {
  const { a, b } = await pair(t);
  Object.assign(b.config, { maxConcurrentHandlers: 1, handlerQueue: 1 });
  const blocked: Task[] = [];
  const ran: string[] = [];
  b.dispatcher.handlers.set("Work", function* (what: string) {
    ran.push(what);
    blocked.push(Running()!);
    yield* Block();
    return what;
  });
  const first = inTask(() => RPCCall(a, "B", "Work", "first"));
  await until(() => blocked.length === 1, "the first call running");
  const queued = inTask(() => RPCCall(a, "B", "Work", "queued", { timeout: 30 }));
  await pause(5);
  const [, overloaded] = await inTask(() => RPCCall(a, "B", "Work", "third"));
  assert.equal(overloaded?.code, "overloaded");
  assert.equal((await queued)[1]?.code, "timeout");
  WakeUp(blocked.shift()!);
  assert.deepEqual(await first, ["first", null]);
  await pause(10);
  assert.deepEqual(ran, ["first"], "the call whose caller gave up never ran");
  b.dispatcher.stop();
  assert.equal((await inTask(() => RPCCall(a, "B", "Work", "late")))[1]?.code, "shutting_down");
});

test("a sender to a full mailbox in this process waits for room: it times out at its rpcTimeout, and goes through once there is room", async (t) => {
  const { a, b } = await pair(t);
  b.config.mailboxLength = 2;
  a.config.rpcTimeout = 40;
  assert.deepEqual(await inTask(function* () { return [yield* SendMsg(a, "B", 1), yield* SendMsg(a, "B", 2)]; }), [null, null]);
  const t0 = performance.now();
  const err = await inTask(() => SendMsg(a, "B", 3));
  assert.equal(err?.code, "timeout");
  assert.ok(performance.now() - t0 >= 39);
  assert.equal(b.mailbox.length, 2, "the timed-out message was not delivered");
  a.config.rpcTimeout = 5000;
  let sent: unknown = "waiting";
  const sending = inTask(function* () { return (sent = yield* SendMsg(a, "B", 4)); });
  await pause(10);
  assert.equal(sent, "waiting");
  const got = await inTask(function* () { return (yield* b.mailbox.getMsg).msg; }); // 1 left: half of 2
  assert.equal(got, 1);
  assert.equal(await sending, null);
  const rest = await inTask(function* () { return [(yield* b.mailbox.getMsg).msg, (yield* b.mailbox.getMsg).msg]; });
  assert.deepEqual(rest, [2, 4]);
  assert.equal((await inTask(() => SendMsg(a, "B", { f: () => 1 })))?.code, "bad_value");
});

test("a stopped service is no longer found in the process, and its name is free again", async (t) => {
  const { runtime, b } = await pair(t);
  assert.equal(runtime.local("B"), b);
  await runtime.stopService(b, "the test stops it");
  assert.equal(runtime.local("B"), undefined);
  const c = new Service(runtime, null, [], runtime.root);
  await c.listen("B", "stream", netaddr_ipv4("127.0.0.1", 0), undefined);
  t.after(() => runtime.stopService(c, "test over"));
  assert.equal(runtime.local("B"), c);
});

test("messages from one service to another in this process keep their order while the mailbox is full, as on a connection", async (t) => {
  const { a, b } = await pair(t);
  b.config.mailboxLength = 4;
  assert.deepEqual(await inTask(function* () {
    const out = [];
    for (let i = 1; i <= 4; i++) out.push(yield* SendMsg(a, "B", `pre${i}`));
    return out;
  }), [null, null, null, null]);
  // A task of A sends m1: the mailbox is full, so it waits for room.
  const first = inTask(() => SendMsg(a, "B", "m1"));
  await pause(5);
  // B takes one: not full any more, but not yet half empty, so m1 still waits.
  assert.equal(await inTask(function* () { return (yield* b.mailbox.getMsg).msg; }), "pre1");
  // Another task of A sends m2 after m1.
  const second = inTask(() => SendMsg(a, "B", "m2"));
  await pause(5);
  const got = await inTask(function* () {
    const out: unknown[] = [];
    for (let i = 0; i < 5; i++) out.push((yield* b.mailbox.getMsg).msg);
    return out;
  });
  assert.deepEqual([await first, await second], [null, null]);
  // Fails today (a bug): localSend (local-call.ts) waits only while `receiver.mailbox.full`, so
  // m2, finding room, is delivered at once while m1 still waits for the mailbox to be half empty:
  // B gets m2 before m1. Over a connection both would be written to the socket in order.
  assert.deepEqual(got, ["pre2", "pre3", "pre4", "m1", "m2"]);
});
