/**
 * A service's session table in-process: a reply settles a call only when it arrives on the link the
 * CALL went out on, whatever its id; ids are random and never repeat among pending calls.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Spawn } from "../runtime/scheduler/spawn.ts";
import { call } from "../runtime/service/call.ts";
import { Conn } from "../runtime/service/conn.ts";
import { Peer } from "../runtime/service/peers.ts";
import { Runtime } from "../runtime/service/runtime.ts";
import type { RPCResult } from "../runtime/service/sessions.ts";
import type { Link } from "../runtime/transport/types.ts";
import { decode } from "../runtime/wire/envelope.ts";

/** A link that keeps what is sent on it. */
function fakeLink(remote: string): Link & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  return {
    remote, maxFrame: 1 << 20, reliable: true, buffered: 0, bytesIn: 0, bytesOut: 0, paused: false, closed: false, sent,
    send: (body: Uint8Array) => void sent.push(body),
    drained: () => Promise.resolve(), finished: () => Promise.resolve(), pause() {}, resume() {}, close() {},
  };
}

/** One service, in this process: the one whose session table the calls use. */
const service = new Runtime(() => Promise.reject(new Error("no scripts here"))).root;
const settle: typeof service.sessions.settle = (link, id, result) => service.sessions.settle(link, id, result);

/** A peer of `service` with an open connection on a fake link. */
function connectedPeer(name: string) {
  const peer = new Peer(service, name, { addr: { family: "inet", ip: "127.0.0.1", port: 1 }, type: "stream" }, true);
  const link = fakeLink(name);
  peer.conn = new Conn(service, link, peer);
  return { peer, link };
}

/** Let the scheduler run until `done()`, at most 5 s. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setImmediate(r));
  }
}

const idOf = (body: Uint8Array) => (decode(body) as unknown as [number, number])[1];

test("a reply settles a call only on the link its CALL was sent on", async () => {
  const a = connectedPeer("A");
  const b = connectedPeer("B");
  const results: RPCResult[] = [];
  for (const p of [a, b]) Spawn(function* () {
    results.push(yield* call(p.peer, "F", null, 2000));
  });
  await until(() => a.link.sent.length === 1 && b.link.sent.length === 1);
  const [idA, idB] = [idOf(a.link.sent[0]!), idOf(b.link.sent[0]!)];
  assert.notEqual(idA, idB);
  // B answers A's call, and an id nobody uses: both dropped.
  assert.equal(settle(b.link, idA, ["FORGED", null]), false);
  assert.equal(settle(b.link, (idA ^ idB) || 1, ["FORGED", null]), false);
  // The right links settle; a second reply to a settled call finds nothing.
  assert.equal(settle(a.link, idA, ["from A", null]), true);
  assert.equal(settle(b.link, idB, ["from B", null]), true);
  assert.equal(settle(a.link, idA, ["again", null]), false);
  await until(() => results.length === 2);
  assert.deepEqual(results.map((r) => r[0]).sort(), ["from A", "from B"]);
});

test("call ids are random: 10,000 pending calls have 10,000 distinct ids spread over 31 bits", async () => {
  const { peer, link } = connectedPeer("C");
  const tasks = Array.from({ length: 10_000 }, () => Spawn(function* () { return yield* call(peer, "F", null, 60_000); }));
  await until(() => link.sent.length === 10_000);
  const ids = link.sent.map(idOf);
  assert.equal(new Set(ids).size, 10_000);
  assert.ok(ids.every((id) => Number.isInteger(id) && id > 0 && id < 2 ** 31));
  assert.ok(Math.max(...ids) > 2 ** 30 && Math.min(...ids) < 2 ** 27, "ids are not a counter");
  for (const id of ids) settle(link, id, [null, null]);
  for (const t of tasks) t.halt();
});
