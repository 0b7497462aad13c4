/**
 * A service's session table in-process, beyond tests/sessions.test.ts: a dropped peer fails its
 * own calls and no one else's, deadlines, halts, resends on lossy links, and the refusals made
 * before a CALL is sent.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RPCError } from "../runtime/errors.ts";
import { Spawn } from "../runtime/scheduler/spawn.ts";
import { call } from "../runtime/service/call.ts";
import { Conn } from "../runtime/service/conn.ts";
import { Peer } from "../runtime/service/peers.ts";
import type { Service } from "../runtime/service/service.ts";
import type { RPCResult } from "../runtime/service/sessions.ts";
import { Type } from "../runtime/wire/envelope.ts";
import { fakeLink, inTask, newRuntime, pause, until, type FakeLink } from "./helpers/inproc.ts";

/** A peer of `service` named `name`, connected over a fake link. */
function connectedPeer(service: Service, name: string, opts: { reliable?: boolean; maxFrame?: number } = {}) {
  const peer = new Peer(service, name, { addr: { family: "inet", ip: "127.0.0.1", port: 1 }, type: opts.reliable === false ? "dgram" : "stream" }, false);
  const link = fakeLink(name, opts);
  const conn = new Conn(service, link, peer);
  peer.conn = conn;
  return { peer, link, conn };
}

const idsSent = (link: FakeLink) => link.frames().map((f) => (f[0] === Type.CALL ? f[1] : -1));

/** Start a call in a task of its own; its result lands in `results`. */
function calling(peer: Peer, func: string, ms: number, results: RPCResult[]) {
  return Spawn(function* () {
    results.push(yield* call(peer, func, null, ms));
  });
}

test("failPeer fails only the calls waiting on that peer; the others still get their replies", async () => {
  const service = newRuntime().root;
  const a = connectedPeer(service, "A");
  const b = connectedPeer(service, "B");
  const fromA: RPCResult[] = [], fromB: RPCResult[] = [];
  calling(a.peer, "F", 5000, fromA);
  calling(a.peer, "G", 5000, fromA);
  calling(b.peer, "F", 5000, fromB);
  await until(() => a.link.sent.length === 2 && b.link.sent.length === 1, "three CALLs sent");
  assert.equal(service.sessions.size, 3);
  service.sessions.failPeer(a.peer, () => new RPCError("disconnected", "A went away"));
  await until(() => fromA.length === 2, "A's calls to fail");
  assert.deepEqual(fromA.map(([, e]) => [e?.code, e?.message]), [["disconnected", "A went away"], ["disconnected", "A went away"]]);
  assert.equal(a.peer.pending, 0);
  assert.equal(service.sessions.size, 1, "B's call still waits");
  assert.deepEqual(fromB, []);
  assert.equal(service.sessions.settle(b.link, idsSent(b.link)[0]!, ["B's answer", null]), true);
  await until(() => fromB.length === 1, "B's reply");
  assert.deepEqual(fromB, [["B's answer", null]]);
  assert.equal(service.sessions.size, 0);
});

test("a peer's connection closing fails its pending calls disconnected, with the reason; another peer's calls are untouched", async () => {
  const service = newRuntime().root;
  const a = connectedPeer(service, "A");
  const b = connectedPeer(service, "B");
  const fromA: RPCResult[] = [], fromB: RPCResult[] = [];
  calling(a.peer, "F", 5000, fromA);
  calling(b.peer, "F", 5000, fromB);
  await until(() => a.link.sent.length === 1 && b.link.sent.length === 1, "two CALLs sent");
  a.conn.onClose(new Error("socket reset"));
  await until(() => fromA.length === 1, "A's call to fail");
  const [, err] = fromA[0]!;
  assert.equal(err?.code, "disconnected");
  assert.match(err?.message ?? "", /the connection to A dropped during the call: socket reset/);
  assert.equal(a.peer.conn, null, "the next call reconnects");
  // A's reply arriving now (on the dead link) settles nothing.
  assert.equal(service.sessions.settle(a.link, idsSent(a.link)[0]!, ["too late", null]), false);
  assert.equal(service.sessions.size, 1);
  assert.equal(service.sessions.settle(b.link, idsSent(b.link)[0]!, ["fine", null]), true);
  await until(() => fromB.length === 1, "B's reply");
  assert.deepEqual(fromB, [["fine", null]]);
});

test("a call with no reply times out at its deadline: the session is gone, and a late reply settles nothing", async () => {
  const service = newRuntime().root;
  const { peer, link } = connectedPeer(service, "A");
  const t0 = performance.now();
  const [ret, err] = await inTask(() => call(peer, "Slow", null, 40));
  const took = performance.now() - t0;
  assert.equal(ret, null);
  assert.equal(err?.code, "timeout");
  assert.equal(err?.message, "A.Slow did not answer within 40 ms");
  assert.ok(took >= 39 && took < 2000, `a 40 ms deadline took ${took} ms`);
  assert.equal(service.sessions.size, 0);
  assert.equal(peer.pending, 0);
  const [frame] = link.frames();
  assert.equal(frame?.[0], Type.CALL);
  assert.equal(frame?.[4], 40, "the CALL carries the deadline");
  assert.equal(service.sessions.settle(link, frame![1] as number, ["late", null]), false);
});

test("a reply to one of two calls settles that one only, with the REPLY's value or the ERROR's code, message and stack", async () => {
  const service = newRuntime().root;
  const { peer, link } = connectedPeer(service, "A");
  const results: RPCResult[] = [];
  calling(peer, "Ok", 5000, results);
  calling(peer, "Bad", 5000, results);
  await until(() => link.sent.length === 2, "two CALLs");
  const [okId, badId] = idsSent(link) as [number, number];
  assert.equal(service.sessions.settle(link, badId, [null, new RPCError("remote_error", "it broke", "Error: it broke\n    at there")]), true);
  await until(() => results.length === 1, "one result");
  assert.equal(results[0]![1]?.code, "remote_error");
  assert.equal(results[0]![1]?.remoteStack, "Error: it broke\n    at there");
  assert.equal(service.sessions.size, 1);
  service.sessions.settle(link, okId, [{ fine: true }, null]);
  await until(() => results.length === 2, "both results");
  assert.deepEqual(results[1], [{ fine: true }, null]);
});

test("halting the calling task ends its session: the peer's pending count drops and a reply finds nothing", async () => {
  const service = newRuntime().root;
  const { peer, link } = connectedPeer(service, "A");
  const results: RPCResult[] = [];
  const task = calling(peer, "F", 5000, results);
  await until(() => link.sent.length === 1, "the CALL");
  assert.equal(peer.pending, 1);
  task.halt();
  await until(() => task.done, "the halted task");
  assert.equal(peer.pending, 0);
  assert.equal(service.sessions.size, 0);
  assert.equal(service.sessions.settle(link, idsSent(link)[0]!, ["x", null]), false);
  assert.deepEqual(results, []);
});

test("on a lossy link the CALL is resent, same bytes, every 100 ms until the reply comes", async () => {
  const service = newRuntime().root;
  const { peer, link } = connectedPeer(service, "U", { reliable: false });
  const results: RPCResult[] = [];
  calling(peer, "F", 5000, results);
  await until(() => link.sent.length >= 3, "two resends", 2000);
  assert.ok(link.sent.every((body) => Buffer.compare(body, link.sent[0]!) === 0), "every resend is the same CALL");
  service.sessions.settle(link, idsSent(link)[0]!, ["got it", null]);
  await until(() => results.length === 1, "the reply");
  const sent = link.sent.length;
  await pause(250);
  assert.equal(link.sent.length, sent, "no resend after the reply");
  assert.deepEqual(results, [["got it", null]]);
});

test("a lossy link's resends stop at the deadline, which still holds", async () => {
  const service = newRuntime().root;
  const { peer, link } = connectedPeer(service, "U", { reliable: false });
  const t0 = performance.now();
  const [, err] = await inTask(() => call(peer, "F", null, 250));
  const took = performance.now() - t0;
  assert.equal(err?.code, "timeout");
  assert.ok(took >= 249 && took < 2000, `a 250 ms deadline took ${took} ms`);
  assert.ok(link.sent.length >= 2 && link.sent.length <= 3, `sent ${link.sent.length} times in 250 ms (every 100 ms)`);
});

test("calls are refused before sending: overloaded past maxPendingCalls, too_large past the link's frame, bad_value for what cannot be encoded", async () => {
  const service = newRuntime().root;
  service.config.maxPendingCalls = 2;
  const { peer, link } = connectedPeer(service, "A", { maxFrame: 200 });
  const results: RPCResult[] = [];
  calling(peer, "F", 5000, results);
  calling(peer, "F", 5000, results);
  await until(() => link.sent.length === 2, "two CALLs");
  const [, overloaded] = await inTask(() => call(peer, "F", null, 5000));
  assert.equal(overloaded?.code, "overloaded");
  for (const id of idsSent(link)) service.sessions.settle(link, id, [null, null]);
  await until(() => results.length === 2, "both replies");
  const [, tooLarge] = await inTask(() => call(peer, "F", "x".repeat(500), 5000));
  assert.equal(tooLarge?.code, "too_large");
  const [, badValue] = await inTask(() => call(peer, "F", { fn: () => 1 }, 5000));
  assert.equal(badValue?.code, "bad_value");
  assert.equal(link.sent.length, 2, "nothing more was sent");
  assert.equal(service.sessions.size, 0);
});

test("3,000 calls pending at once (the table grows past its first 1,024 slots): ids are distinct, each reply settles its own call, and a reply to an ended call settles nothing once its slot is reused", async () => {
  const service = newRuntime().root;
  const { peer, link } = connectedPeer(service, "A");
  const results = new Map<number, unknown>();
  const N = 3000;
  for (let i = 0; i < N; i++) Spawn(function* () {
    const [value] = yield* call(peer, "F", null, 10_000);
    results.set(i, value);
  });
  await until(() => link.sent.length === N, "every CALL");
  const ids = idsSent(link) as number[];
  assert.equal(new Set(ids).size, N, "distinct ids");
  for (const id of ids) assert.ok(Number.isInteger(id) && id > 0 && id < 2 ** 31, `id ${id} is a 31-bit integer`);
  assert.equal(service.sessions.size, N);
  // Settle in an order unlike the one they were sent in, each with its own index.
  const order = ids.map((id, i) => [id, i] as const).sort((a, b) => (a[0] * 7919) % 10007 - (b[0] * 7919) % 10007);
  for (const [id, i] of order) assert.equal(service.sessions.settle(link, id, [i, null]), true);
  await until(() => results.size === N, "every result");
  for (let i = 0; i < N; i++) assert.equal(results.get(i), i);
  assert.equal(service.sessions.size, 0);
  // A new call takes a freed slot; the old ids, whatever slot they name, settle nothing.
  Spawn(function* () { yield* call(peer, "G", null, 10_000); });
  await until(() => link.sent.length === N + 1, "the new CALL");
  for (const id of ids) assert.equal(service.sessions.settle(link, id, ["late", null]), false);
  assert.equal(service.sessions.size, 1);
  service.sessions.settle(link, idsSent(link)[N]!, [null, null]);
});
