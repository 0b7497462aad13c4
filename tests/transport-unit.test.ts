/**
 * streamTransport and udpTransport driven directly, in this process, on 127.0.0.1 port 0: the
 * greeting reaches the other side before any other frame (tests/helpers/transports.ts), and the
 * limits a link or listener is given are read live, but for maxFrameBytes and maxConnections,
 * read when it is created.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { streamTransport } from "../runtime/transport/stream.ts";
import { MAX_DATAGRAM, udpTransport } from "../runtime/transport/udp.ts";
import { ECHO_BYTES } from "../runtime/transport/udp-route.ts";
import { LuanetError } from "../runtime/errors.ts";
import { dialed, greetingCases, limits, listening, sleep, until } from "./helpers/transports.ts";

greetingCases("");

const codeOf = (error: Error | null | undefined) => (error instanceof LuanetError ? error.code : String(error));

test("maxFrameBytes is read when a link is created: a dialed link's maxFrame (UDP: less the headers and the greeting)", async (t) => {
  const lim = limits({ maxFrameBytes: 1000 });
  const stream = await listening(t, streamTransport, limits());
  const udp = await listening(t, udpTransport, limits());
  const s = await dialed(t, streamTransport, stream.listener.addr, "G", lim);
  const u = await dialed(t, udpTransport, udp.listener.addr, "G", lim);
  assert.equal(s.link.maxFrame, 1000);
  assert.equal(u.link.maxFrame, 1000);
  lim.maxFrameBytes = 10;
  assert.equal(s.link.maxFrame, 1000);
  assert.equal(u.link.maxFrame, 1000);
  const greeting = "G".repeat(5000);
  const big = await dialed(t, udpTransport, udp.listener.addr, greeting, limits({ maxFrameBytes: 1 << 20 }));
  assert.equal(big.link.maxFrame, MAX_DATAGRAM - ECHO_BYTES - 2 - greeting.length);
});

test("udp: a greeting that leaves no room for a frame in a datagram is refused on connect", async (t) => {
  const udp = await listening(t, udpTransport, limits());
  await assert.rejects(udpTransport.connect(udp.listener.addr, () => ({ onFrame() {}, onClose() {} }), {
    limits: limits(), timeoutMs: 1000, greeting: Buffer.alloc(MAX_DATAGRAM),
  }), RangeError);
});

test("stream: a listener's maxFrameBytes bounds the frames it accepts; a larger one closes the link (too_large)", async (t) => {
  const { listener, accepted } = await listening(t, streamTransport, limits({ maxFrameBytes: 64 }));
  const dialer = await dialed(t, streamTransport, listener.addr, "G");
  dialer.link.send(Buffer.alloc(64, "x"));
  await until("the frame of 64 bytes", () => accepted[0]?.got.frames.length === 2);
  dialer.link.send(Buffer.alloc(65, "x"));
  await until("the close", () => accepted[0]!.got.closed !== null);
  assert.equal(codeOf(accepted[0]!.got.closed!.error), "too_large");
  await until("the dialer to see it", () => dialer.got.closed !== null);
});

test("stream: maxSendBytes is read at each send: lowered on an open link, the next send past it closes the link (overloaded)", async (t) => {
  const lim = limits();
  const { listener, accepted } = await listening(t, streamTransport, limits());
  const dialer = await dialed(t, streamTransport, listener.addr, "G", lim);
  // Two frames in one turn: the second finds the first still queued.
  dialer.link.send(Buffer.alloc(1000, "a"));
  dialer.link.send(Buffer.alloc(1000, "b"));
  await until("both frames", () => accepted[0]?.got.frames.length === 3);
  await dialer.link.drained();
  lim.maxSendBytes = 1500;
  dialer.link.send(Buffer.alloc(1000, "c"));
  assert.equal(dialer.link.closed, false, "a frame always fits in an empty queue");
  dialer.link.send(Buffer.alloc(1000, "d"));
  assert.equal(dialer.link.closed, true);
  assert.equal(codeOf(dialer.got.closed?.error), "overloaded");
});

test("stream: partialFrameBytes is read as bytes arrive: lowered under a listener, a frame that spans reads closes its link (overloaded)", async (t) => {
  const lim = limits();
  const { listener, accepted } = await listening(t, streamTransport, lim);
  const dialer = await dialed(t, streamTransport, listener.addr, "G");
  const big = Buffer.alloc(300_000, "x"); // more than one read of the socket: held partly
  dialer.link.send(big);
  await until("the large frame", () => accepted[0]?.got.frames.length === 2);
  lim.partialFrameBytes = 1000;
  dialer.link.send(big);
  await until("the close", () => accepted[0]!.got.closed !== null);
  assert.equal(codeOf(accepted[0]!.got.closed!.error), "overloaded");
  assert.equal(accepted[0]!.got.frames.length, 2);
});

test("stream: maxConnectionsPerSource is read at each arrival: at 1 a newcomer displaces the unproven link; raised, it does not", async (t) => {
  const lim = limits({ maxConnectionsPerSource: 1 });
  const { listener, accepted } = await listening(t, streamTransport, lim);
  const a = await dialed(t, streamTransport, listener.addr, "A"); // the greeting alone: unproven
  await until("A's greeting", () => accepted[0]?.got.frames.length === 1);
  const b = await dialed(t, streamTransport, listener.addr, "B");
  await until("A displaced", () => a.got.closed !== null && accepted[0]!.got.closed !== null);
  await until("B's greeting", () => accepted[1]?.got.frames.length === 1);
  lim.maxConnectionsPerSource = 10;
  const c = await dialed(t, streamTransport, listener.addr, "C");
  await until("C's greeting", () => accepted[2]?.got.frames.length === 1);
  b.link.send(Buffer.from("still here"));
  c.link.send(Buffer.from("me too"));
  await until("B's and C's frames", () => accepted[1]!.got.frames.length === 2 && accepted[2]!.got.frames.length === 2);
  assert.deepEqual(accepted.map((x) => x.got.frames), [["A"], ["B", "still here"], ["C", "me too"]]);
  assert.equal(b.got.closed, null);
});

test("udp: maxConnectionsPerSource is read at each new link: at 1 a second dialer's datagrams open none; raised, its next one does", async (t) => {
  const lim = limits({ maxConnectionsPerSource: 1 });
  const { listener, accepted } = await listening(t, udpTransport, lim);
  const a = await dialed(t, udpTransport, listener.addr, "A");
  a.link.send(Buffer.from("a")); // greeting and a frame: proven, never displaced
  await until("A's link", () => accepted[0]?.got.frames.length === 2);
  const b = await dialed(t, udpTransport, listener.addr, "B");
  b.link.send(Buffer.from("refused"));
  await sleep(200); // the datagram is on loopback, in this process: handled by now
  assert.equal(accepted.length, 1);
  lim.maxConnectionsPerSource = 10;
  b.link.send(Buffer.from("b"));
  await until("B's link", () => accepted[1]?.got.frames.length === 2);
  assert.deepEqual(accepted.map((x) => x.got.frames), [["A", "a"], ["B", "b"]]);
});
