/**
 * A service's mailbox in-process: delivery order, its bounds in messages and bytes (pausing a
 * stream link and resuming it at half, dropping on UDP), and senders in this process waiting for
 * room (roomIn).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Spawn } from "../runtime/scheduler/spawn.ts";
import { DEFAULTS, type Config } from "../runtime/service/config.ts";
import { Mailbox, roomIn, type Message } from "../runtime/service/mailbox.ts";
import { fakeLink, inTask, pause, until } from "./helpers/inproc.ts";

const boxWith = (limits: Partial<Config>) => new Mailbox({ ...DEFAULTS, ...limits });

/** Take `n` messages from `box` in a task of its own. */
function take(box: Mailbox, n: number): Promise<Message[]> {
  return inTask(function* () {
    const got: Message[] = [];
    for (let i = 0; i < n; i++) got.push(yield* box.getMsg);
    return got;
  });
}

test("messages go to waiting GetMsg tasks first come, first served, and queued ones come out in arrival order", async () => {
  const box = boxWith({});
  const got: string[] = [];
  for (const who of ["t1", "t2", "t3"]) {
    Spawn(function* () {
      const m = yield* box.getMsg;
      got.push(`${who}:${String(m.msg)} from ${m.from}`);
    });
  }
  await pause(5); // the three are waiting, in spawn order
  box.deliver("A", "m1", 10, null);
  box.deliver("B", "m2", 10, null);
  box.deliver(null, "m3", 10, null);
  await until(() => got.length === 3, "three messages taken");
  assert.deepEqual(got, ["t1:m1 from A", "t2:m2 from B", "t3:m3 from null"]);
  // Nobody waits: they queue, and come out in order, each to one caller.
  for (const m of ["q1", "q2", "q3", "q4"]) box.deliver("A", m, 10, null);
  assert.equal(box.length, 4);
  assert.deepEqual((await take(box, 2)).map((m) => m.msg), ["q1", "q2"]);
  // Two takers at once: each message goes to exactly one, each sees them in arrival order.
  for (const m of ["q5", "q6", "q7", "q8"]) box.deliver("A", m, 10, null);
  const [first, second] = await Promise.all([take(box, 2), take(box, 4)]);
  const all = [...first!, ...second!].map((m) => String(m.msg));
  assert.deepEqual([...all].sort(), ["q3", "q4", "q5", "q6", "q7", "q8"]);
  for (const got of [first!, second!]) {
    const order = got.map((m) => String(m.msg));
    assert.deepEqual(order, [...order].sort(), `one taker's messages out of order: ${order.join(" ")}`);
  }
  assert.equal(box.length, 0);
});

test("at mailboxLength messages the stream link that brings more is paused (its message kept), and resumed once half are taken", async () => {
  const box = boxWith({ mailboxLength: 4 });
  const link = fakeLink("sender:1");
  for (let i = 1; i <= 4; i++) box.deliver("S", i, 10, link);
  assert.equal(link.pauses, 0, "four fit");
  assert.ok(box.full);
  box.deliver("S", 5, 10, link); // arrived already: kept, and the link is no longer read
  assert.equal(box.length, 5);
  assert.equal(link.pauses, 1);
  assert.ok(link.paused);
  assert.deepEqual((await take(box, 2)).map((m) => m.msg), [1, 2]);
  assert.ok(link.paused, "3 left: more than half of 4");
  assert.deepEqual((await take(box, 1)).map((m) => m.msg), [3]);
  assert.equal(link.resumes, 1, "2 left: half");
  assert.ok(!link.paused);
  assert.deepEqual((await take(box, 2)).map((m) => m.msg), [4, 5]);
  assert.equal(link.resumes, 1, "resumed once");
});

test("the byte bound pauses too: a message that would take the mailbox past mailboxBytes pauses its link, until half the bytes are taken", async () => {
  const box = boxWith({ mailboxBytes: 100 });
  const link = fakeLink("sender:1");
  box.deliver("S", "a", 30, link);
  box.deliver("S", "b", 30, link);
  box.deliver("S", "c", 30, link); // 90 bytes
  assert.equal(link.pauses, 0);
  box.deliver("S", "d", 30, link); // 120 > 100: kept, paused
  assert.equal(link.pauses, 1);
  assert.equal(box.length, 4);
  await take(box, 2); // 60 bytes left
  assert.ok(link.paused, "60 bytes: over half of 100");
  await take(box, 1); // 30
  assert.ok(!link.paused, "30 bytes: at most half");
  assert.equal(link.resumes, 1);
});

test("every paused link is resumed at half, and a link's messages are never dropped however far past the bound", async () => {
  const box = boxWith({ mailboxLength: 2 });
  const a = fakeLink("a:1"), b = fakeLink("b:2");
  box.deliver("A", 1, 10, a);
  box.deliver("A", 2, 10, a);
  box.deliver("A", 3, 10, a); // a paused
  box.deliver("B", 4, 10, b); // b paused (a paused stream may still have frames in flight)
  box.deliver("A", 5, 10, a);
  assert.equal(box.length, 5);
  assert.ok(a.paused && b.paused);
  assert.deepEqual((await take(box, 4)).map((m) => m.msg), [1, 2, 3, 4]);
  assert.ok(!a.paused && !b.paused);
  assert.deepEqual((await take(box, 1)).map((m) => m.msg), [5]);
});

test("on a link that loses frames (UDP) a message past the bound is dropped, and the link is not paused", async () => {
  const box = boxWith({ mailboxLength: 2, mailboxBytes: 1000 });
  const udp = fakeLink("udp:1", { reliable: false });
  box.deliver("U", 1, 10, udp);
  box.deliver("U", 2, 10, udp);
  box.deliver("U", 3, 10, udp); // count bound: dropped
  box.deliver("U", "big", 999, udp); // would pass the byte bound as well: dropped
  assert.equal(box.length, 2);
  assert.equal(udp.pauses, 0);
  assert.deepEqual((await take(box, 2)).map((m) => m.msg), [1, 2]);
  // Room again: the next one is kept. One past the byte bound alone is dropped too.
  box.deliver("U", 4, 10, udp);
  box.deliver("U", 5, 991, udp);
  assert.equal(box.length, 1);
  assert.deepEqual((await take(box, 1)).map((m) => m.msg), [4]);
  // A waiting GetMsg takes the message whatever its size: nothing is queued.
  const waiting = take(box, 1);
  await pause(5);
  box.deliver("U", "huge", 5000, udp);
  assert.deepEqual((await waiting).map((m) => m.msg), ["huge"]);
});

test("a message from this process (no link) past the bound is kept and pauses nothing: its sender waited for room (roomIn)", () => {
  const box = boxWith({ mailboxLength: 1 });
  box.deliver("A", 1, 10, null);
  box.deliver("A", 2, 10, null);
  assert.equal(box.length, 2);
});

test("roomIn returns true at once while there is room, times out false while the mailbox stays full, and true once it is half empty", async () => {
  const box = boxWith({ mailboxLength: 4 });
  assert.equal(await inTask(function* () { return yield* roomIn(box, 1000); }), true);
  for (let i = 0; i < 4; i++) box.deliver("A", i, 10, null);
  assert.ok(box.full);
  const t0 = performance.now();
  assert.equal(await inTask(function* () { return yield* roomIn(box, 40); }), false);
  const waited = performance.now() - t0;
  assert.ok(waited >= 39, `waited ${waited} ms for a 40 ms deadline`);
  assert.ok(waited < 2000, `waited ${waited} ms for a 40 ms deadline`);
  let room: boolean | null = null;
  const t1 = performance.now();
  const waiter = inTask(function* () { return (room = yield* roomIn(box, 5000)); });
  await take(box, 1);
  await pause(10);
  assert.equal(room, null, "3 of 4 left: still waiting");
  await take(box, 1); // 2 left: half
  assert.equal(await waiter, true);
  assert.ok(performance.now() - t1 < 4000, "woken by the take, not by its deadline");
});

test("a sender halted while it waits for room leaves the wait list: the next take does not resume it", async () => {
  const box = boxWith({ mailboxLength: 2 });
  box.deliver("A", 1, 10, null);
  box.deliver("A", 2, 10, null);
  let after = false;
  const t = Spawn(function* () {
    yield* roomIn(box, 5000);
    after = true;
  });
  await pause(5);
  t.halt();
  await until(() => t.done, "the halted sender to end");
  await take(box, 2);
  await pause(5);
  assert.equal(after, false);
});

test("a GetMsg task halted while it waits leaves the wait list: the next message is kept for the next caller", async () => {
  const box = boxWith({});
  let got: Message | null = null;
  const t = Spawn(function* () {
    got = yield* box.getMsg;
  });
  await pause(5);
  t.halt();
  await until(() => t.done, "the halted task to end");
  box.deliver("A", "kept", 10, null);
  assert.equal(got, null);
  assert.equal(box.length, 1);
  assert.deepEqual((await take(box, 1)).map((m) => m.msg), ["kept"]);
});
