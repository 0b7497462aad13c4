/**
 * UDP batches (runtime/transport/udp-batch.ts), in-process on 127.0.0.1: the frames a link sends
 * in one turn share datagrams of at most udpBatchBytes, read live; a frame too large for one goes
 * alone, in its place; a peer that does not say it takes batches (an older luanet, played here
 * by a raw socket speaking the protocol without them) is never sent one; and a malformed batch
 * closes its own link with a protocol error, no other. The datagram counts come from the exact
 * bytes a link sent (Link.bytesOut), so a test that batched nothing would fail.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as dgram from "node:dgram";
import { test, type TestContext } from "node:test";
import { LuanetError } from "../runtime/errors.ts";
import { udpTransport } from "../runtime/transport/udp.ts";
import { dialed, limits, listening, until } from "./helpers/transports.ts";

const frames = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, "0")}`);

/** A dialer and a listener on 127.0.0.1 that have each heard the other (so the dialer sends FRAMEs, not ECHOs). */
async function pair(t: TestContext, lim = limits()) {
  const { listener, accepted } = await listening(t, udpTransport, lim);
  const dialer = await dialed(t, udpTransport, listener.addr, "GREETING", lim);
  dialer.link.send(Buffer.from("hi"));
  await until("the first frame", () => accepted[0]?.got.frames.length === 2);
  const server = accepted[0]!;
  server.link.send(Buffer.from("hi back"));
  await until("the answer", () => dialer.got.frames.length === 1);
  return { listener, accepted, dialer, server };
}

// A dialer's datagram: [route: 5][hello length: 2][GREETING: 8], then a frame or [0xff] and
// [length: 2][frame] per frame; a listener's: [hello length: 2] and the same.
const DIALER_HEAD = 5 + 2 + 8;

test("udp: frames sent in one turn share one datagram, in order; the listener's answers too", async (t) => {
  const { dialer, server } = await pair(t);
  const before = dialer.link.bytesOut;
  const sent = frames("f", 100);
  for (const body of sent) dialer.link.send(Buffer.from(body));
  await until("the 100 frames", () => server.got.frames.length === 102);
  assert.deepEqual(server.got.frames.slice(2), sent);
  assert.equal(dialer.link.bytesOut - before, DIALER_HEAD + 1 + 100 * (2 + 4), "one datagram for the 100 frames");

  const back = server.link.bytesOut;
  const replies = frames("r", 50);
  for (const body of replies) server.link.send(Buffer.from(body));
  await until("the 50 answers", () => dialer.got.frames.length === 51);
  assert.deepEqual(dialer.got.frames.slice(1), replies);
  assert.equal(server.link.bytesOut - back, 2 + 1 + 50 * (2 + 4), "one datagram for the 50 answers");
});

test("udp: a frame too large for a batch goes alone, between the batches before and after it", async (t) => {
  const { dialer, server } = await pair(t);
  const before = dialer.link.bytesOut;
  const big = "B".repeat(3000);
  const sent = [...frames("a", 10), big, ...frames("b", 10)];
  for (const body of sent) dialer.link.send(Buffer.from(body));
  await until("the 21 frames", () => server.got.frames.length === 23);
  assert.deepEqual(server.got.frames.slice(2), sent);
  const batchOf10 = DIALER_HEAD + 1 + 10 * (2 + 4);
  assert.equal(dialer.link.bytesOut - before, batchOf10 + (DIALER_HEAD + 3000) + batchOf10, "three datagrams");
});

test("udp: udpBatchBytes is read as a batch starts: lowered to 100 on an open link, 30 frames take three datagrams", async (t) => {
  const lim = limits();
  const { dialer, server } = await pair(t, lim);
  lim.udpBatchBytes = 100; // 100 less the longest route header (21) leaves 79: HELLO 10, 0xff, 11 frames of 6
  const before = dialer.link.bytesOut;
  const sent = frames("c", 30);
  for (const body of sent) dialer.link.send(Buffer.from(body));
  await until("the 30 frames", () => server.got.frames.length === 32);
  assert.deepEqual(server.got.frames.slice(2), sent);
  assert.equal(dialer.link.bytesOut - before, 3 * (DIALER_HEAD + 1) + 30 * (2 + 4), "batches of 11, 11 and 8");
});

/** A raw UDP socket on 127.0.0.1, keeping what reaches it. */
async function raw(t: TestContext, port = 0) {
  const socket = dgram.createSocket("udp4");
  const got: Array<{ datagram: Buffer; from: dgram.RemoteInfo }> = [];
  socket.on("message", (datagram, from) => got.push({ datagram, from }));
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject); // a bind that fails ends the test rather than hanging it
    socket.bind(port, "127.0.0.1", resolve);
  });
  t.after(() => socket.close());
  return { socket, got, port: socket.address().port };
}

test("udp: a dialer says in its PROBE that it takes batches; told COOKIE (5), as a luanet without batches answers, it sends each frame alone", async (t) => {
  const old = await raw(t);
  // The listener of a luanet without batches: a COOKIE for every PROBE; it never checks the flag.
  old.socket.on("message", (d, from) => d[4] === 2 && old.socket.send(Buffer.concat([Buffer.of(5), randomBytes(16)]), from.port, from.address));
  const dialer = await dialed(t, udpTransport, { family: "inet", ip: "127.0.0.1", port: old.port }, "GREETING");
  const probe = old.got.find((g) => g.datagram[4] === 2)!.datagram;
  assert.equal(probe.length, 17);
  assert.equal(probe[5], 1, "the PROBE's first padding byte says: I take batches");
  const sent = frames("x", 5);
  for (const body of sent) dialer.link.send(Buffer.from(body));
  await until("five datagrams", () => old.got.filter((g) => g.datagram[4] !== 2).length === 5);
  const data = old.got.filter((g) => g.datagram[4] !== 2).map((g) => g.datagram);
  assert.deepEqual(data.map((d) => d[4]), [1, 1, 1, 1, 1], "plain ECHOs (route kind 1), never 4");
  assert.deepEqual(data.map((d) => d.subarray(21 + 2 + 8).toString()), sent, "one frame per datagram, no batch");
});

test("udp: a listener answers a PROBE without the flag (a luanet without batches) with COOKIE (5), and never batches to that link", async (t) => {
  const { listener, accepted } = await listening(t, udpTransport, limits());
  const port = (listener.addr as { port: number }).port;
  const old = await raw(t);
  const cid = randomBytes(4);
  old.socket.send(Buffer.concat([cid, Buffer.of(2), Buffer.alloc(12)]), port, "127.0.0.1");
  await until("a COOKIE", () => old.got.length === 1);
  const answer = old.got[0]!.datagram;
  assert.equal(answer[0], 5, "a plain COOKIE, which an older dialer takes");
  // Its ECHO: [cid][1][cookie][hello length: 2]["HELLO"]["a"].
  old.socket.send(Buffer.concat([cid, Buffer.of(1), answer.subarray(1), Buffer.of(0, 5), Buffer.from("HELLOa")]), port, "127.0.0.1");
  await until("the frame", () => accepted[0]?.got.frames.length === 2);
  assert.deepEqual(accepted[0]!.got.frames, ["HELLO", "a"]);
  const sent = frames("y", 5);
  for (const body of sent) accepted[0]!.link.send(Buffer.from(body));
  await until("five datagrams", () => old.got.length === 6);
  assert.deepEqual(old.got.slice(1).map((g) => g.datagram.toString("latin1")), sent.map((s) => `\0\0${s}`), "one frame per datagram, no batch");

  const flagged = Buffer.concat([randomBytes(4), Buffer.of(2, 1), Buffer.alloc(11)]);
  old.socket.send(flagged, port, "127.0.0.1");
  await until("a second COOKIE", () => old.got.length === 7);
  assert.equal(old.got[6]!.datagram[0], 6, "a flagged PROBE gets a BATCH_COOKIE");
});

/** A raw dialer that has a cookie from `port` for a new link id, told that the listener takes batches. */
async function rawDialer(t: TestContext, port: number) {
  const r = await raw(t);
  const cid = randomBytes(4);
  r.socket.send(Buffer.concat([cid, Buffer.of(2, 1), Buffer.alloc(11)]), port, "127.0.0.1");
  await until("a BATCH_COOKIE", () => r.got.length === 1);
  assert.equal(r.got[0]!.datagram[0], 6);
  /** Send [cid][4][cookie][hello length: 0][payload]: a BATCH_ECHO. */
  const send = (payload: Buffer) => r.socket.send(Buffer.concat([cid, Buffer.of(4), r.got[0]!.datagram.subarray(1), Buffer.of(0, 0), payload]), port, "127.0.0.1");
  return { ...r, send };
}

const batch = (...parts: Array<number | string>) => Buffer.concat(parts.map((p) => (typeof p === "number" ? Buffer.of(p) : Buffer.from(p))));

test("udp: a batch from another implementation: [0xff] then [length: u16 BE][frame] per frame; one frame in a batch is fine", async (t) => {
  const { listener, accepted } = await listening(t, udpTransport, limits());
  const foreign = await rawDialer(t, (listener.addr as { port: number }).port);
  foreign.send(batch(0xff, 0, 1, "x", 0, 3, "yzw"));
  await until("two frames", () => accepted[0]?.got.frames.length === 2);
  foreign.send(batch(0xff, 0, 2, "uv"));
  await until("a third", () => accepted[0]!.got.frames.length === 3);
  assert.deepEqual(accepted[0]!.got.frames, ["x", "yzw", "uv"]);
  assert.equal(accepted[0]!.got.closed, null);
});

const malformed: Array<[what: string, payload: Buffer, message: RegExp]> = [
  ["no frames", batch(0xff), /a UDP batch of no frames/],
  ["an inner length past the end", batch(0xff, 0, 1, "a", 0, 9, "bc"), /frame 2 announces 9 bytes, but only 2 follow/],
  ["a datagram that ends inside a length", batch(0xff, 0, 1, "a", 0), /ends inside the length of its frame 2/],
  ["an empty frame", batch(0xff, 0, 1, "a", 0, 0), /frame 2 is empty/],
];

for (const [what, payload, message] of malformed) {
  test(`udp: a batch with ${what} closes its own link with a protocol error, before any of its frames is handed on; another link carries on`, async (t) => {
    const { listener, accepted, dialer, server } = await pair(t);
    const hostile = await rawDialer(t, (listener.addr as { port: number }).port);
    hostile.send(batch(0xff, 0, 1, "k", 0, 1, "l"));
    await until("the hostile link's first batch", () => accepted[1]?.got.frames.length === 2);
    const victim = accepted[1]!;
    hostile.send(payload);
    await until("the hostile link closed", () => victim.got.closed !== null);
    const error = victim.got.closed!.error;
    assert.ok(error instanceof LuanetError && error.code === "protocol", `a protocol error, got ${error}`);
    assert.match(error.message, message);
    assert.deepEqual(victim.got.frames, ["k", "l"], "no frame of the malformed batch was handed on");
    assert.equal(victim.link.closed, true);

    dialer.link.send(Buffer.from("still"));
    dialer.link.send(Buffer.from("here"));
    await until("the other link's frames", () => server.got.frames.length === 4);
    assert.deepEqual(server.got.frames.slice(2), ["still", "here"]);
    assert.equal(server.got.closed, null);
    assert.equal(accepted.length, 2);
  });
}
