/**
 * luanet/client without a gate: its frame codec and tcp:// reassembly on their own, its argument
 * checks, and its behaviour against real sockets whose other end is a scripted gate
 * (tests/helpers/fake-gate.ts) that answers, pushes, kicks, goes silent or sends garbage on
 * purpose. The real gate's tests (runtime/gate) check the two together.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WebSocket as WsWebSocket } from "ws";
import { connect, ClientError, type Connection } from "../stdlib/client.ts";
import { Frame, FrameCodec, FrameError, UnsendableError } from "../stdlib/client/frames.ts";
import { backoffMs } from "../stdlib/client/options.ts";
import { FrameLengthError, framed, StreamFrames } from "../stdlib/client/stream-frames.ts";
import { parseGateUrl } from "../stdlib/client/transport.ts";
import { cbor, closedPort, hello, lengthPrefixed, type Peer, tcpGate, within, wsGate } from "./helpers/fake-gate.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The next "close" event of `c`, within `ms`. */
function closeOf(c: Connection, ms = 2000): Promise<[reason: string, message: string]> {
  return within(new Promise((resolve) => c.on("close", (reason, message) => resolve([reason, message]))), ms, "a close event");
}

/** A gate that greets every connection with HELLO (`h`). */
const greeting = (h: unknown[] = hello()) => (peer: Peer) => peer.send(h);

describe("tcp:// framing", () => {
  const bodies = [new Uint8Array([1]), new Uint8Array(0), new Uint8Array(300).fill(7), new Uint8Array([9, 8, 7])];
  const stream = Buffer.concat(bodies.map((b) => Buffer.from(framed(b))));

  test("framed() puts a 4-byte big-endian length before the body", () => {
    assert.deepEqual([...framed(new Uint8Array([5, 6]))], [0, 0, 0, 2, 5, 6]);
    assert.deepEqual([...framed(new Uint8Array(258)).subarray(0, 4)], [0, 0, 1, 2]);
  });

  test("every split of a stream of frames gives back exactly those frames", () => {
    for (const size of [1, 2, 3, 4, 5, 7, 64, 303, stream.length]) {
      const r = new StreamFrames(1024);
      const got: number[][] = [];
      for (let i = 0; i < stream.length; i += size) r.push(stream.subarray(i, i + size), (b) => void got.push([...b]));
      assert.deepEqual(got, bodies.map((b) => [...b]), `chunks of ${size}`);
      assert.equal(r.held, 0);
    }
  });

  test("a length over maxFrame is refused from its 4 bytes, before any body; maxFrame itself is accepted", () => {
    const r = new StreamFrames(100);
    assert.throws(() => r.push(new Uint8Array([0, 0, 0, 101]), () => assert.fail("no frame")), (e: unknown) => e instanceof FrameLengthError && e.size === 101 && e.max === 100);
    const ok = new StreamFrames(100);
    const got: Uint8Array[] = [];
    ok.push(framed(new Uint8Array(100)), (b) => void got.push(b));
    assert.equal(got.length, 1);
    // A header split 1 + 3 bytes is read the same.
    const split = new StreamFrames(100);
    split.push(new Uint8Array([0xff]), () => {});
    assert.throws(() => split.push(new Uint8Array([0xff, 0xff, 0xff]), () => {}), FrameLengthError);
  });

  test("what is held for an incomplete frame is that frame's bytes only", () => {
    const r = new StreamFrames(1 << 20);
    r.push(framed(new Uint8Array(1000)).subarray(0, 600), () => assert.fail("not complete"));
    assert.equal(r.held, 596);
    r.push(new Uint8Array([0, 0]), () => assert.fail("not complete"));
    assert.equal(r.held, 598);
  });

  test("onFrame returning false stops the reading", () => {
    const r = new StreamFrames(1024);
    let n = 0;
    r.push(stream, () => ++n < 2);
    assert.equal(n, 2);
  });
});

describe("frames", () => {
  const codec = new FrameCodec();
  const decode = (v: unknown) => codec.decode(cbor.encode(v));

  test("each frame a gate sends decodes", () => {
    assert.deepEqual(decode([0, 1, "a.1@g", 10000, true, 65536]), { type: Frame.HELLO, session: "a.1@g", heartbeatMs: 10000, auth: true, maxRequestBytes: 65536 });
    assert.deepEqual(decode([5, 7, { seat: 3 }]), { type: Frame.REPLY, id: 7, result: { seat: 3 } });
    assert.deepEqual(decode([6, 0xffffffff, "no_such_function", "no"]), { type: Frame.ERROR, id: 0xffffffff, code: "no_such_function", message: "no" });
    assert.deepEqual(decode([7, "push", [1, 2]]), { type: Frame.PUSH, route: "push", msg: [1, 2] });
    assert.deepEqual(decode([8, "kicked", "bye"]), { type: Frame.KICK, reason: "kicked", message: "bye" });
    assert.deepEqual(decode([9]), { type: Frame.PONG });
    // An id in the 8-byte CBOR form (1b) is the same id.
    assert.deepEqual(codec.decode(new Uint8Array([0x83, 0x05, 0x1b, 0, 0, 0, 0, 0, 0, 0, 9, 0xf6])), { type: Frame.REPLY, id: 9, result: null });
  });

  test("malformed frames are refused with FrameError", () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ a: 1 }, /non-empty CBOR array/],
      [[], /non-empty CBOR array/],
      [[0, 2, "s", 1000, false, 100], /unsupported gate protocol version 2/],
      [[0, 1, "", 1000, false, 100], /malformed frame of type 0/],
      [[0, 1, "s", -1, false, 100], /malformed/],
      [[0, 1, "s", 1000, 1, 100], /malformed/],
      [[0, 1, "s", 1000, false, 0], /malformed/],
      [[0, 1, "s", 1000, false], /malformed/],
      [[5, 0, null], /malformed frame of type 5/],
      [[5, 0x1_0000_0000, null], /malformed/],
      [[5, 1.5, null], /malformed/],
      [[5, 1], /malformed/],
      [[6, 1, 42, "m"], /malformed frame of type 6/],
      [[6, 1, "c"], /malformed/],
      [[7, 3, {}], /malformed frame of type 7/],
      [[8, "kicked"], /malformed frame of type 8/],
      [[9, 0], /malformed frame of type 9/],
      [[2, 1, "A.b", null], /only a client sends/],
      [[4], /only a client sends/],
      [[10], /unknown frame type 10/],
      [["x"], /unknown frame type "x"/],
    ];
    for (const [value, message] of bad) assert.throws(() => decode(value), (e: unknown) => e instanceof FrameError && message.test(e.message), JSON.stringify(value));
    // Outside the CBOR subset, before cbor-x decodes anything: trailing bytes, tag 28 (value sharing).
    assert.throws(() => codec.decode(new Uint8Array([0x81, 0x09, 0x00])), /byte\(s\) after the item/);
    assert.throws(() => codec.decode(new Uint8Array([0x83, 0x07, 0x60, 0xd8, 0x1c, 0x80])), /tag 28/);
    assert.throws(() => codec.decode(new Uint8Array([0x82, 0x09])), /declares more items than the frame holds/);
  });

  test("what the client cannot send is refused before it is sent", () => {
    assert.deepEqual([...codec.encode([Frame.PING], 10)], [0x81, 0x04]);
    assert.throws(() => codec.encode([3, "A.b", { e: new Error("x") }], 1000), (e: unknown) => e instanceof UnsendableError && !e.tooLarge && /Error or RegExp/.test(e.message));
    assert.throws(() => codec.encode([3, "A.b", "x".repeat(100)], 50), (e: unknown) => e instanceof UnsendableError && e.tooLarge && /over the gate's maxRequestBytes of 50/.test(e.message));
  });

  test("gate URLs", () => {
    assert.deepEqual(parseGateUrl("ws://127.0.0.1:3010"), { kind: "ws", url: "ws://127.0.0.1:3010/" });
    assert.deepEqual(parseGateUrl("wss://game.example/play?x=1"), { kind: "ws", url: "wss://game.example/play?x=1" });
    assert.deepEqual(parseGateUrl("tcp://127.0.0.1:3010"), { kind: "tcp", host: "127.0.0.1", port: 3010 });
    assert.deepEqual(parseGateUrl("tcp://[::1]:3010"), { kind: "tcp", host: "::1", port: 3010 });
    for (const url of [3010, "127.0.0.1:3010", "http://x:1", "tcp://127.0.0.1", "tcp://127.0.0.1:3010/path", "not a url"]) {
      assert.throws(() => parseGateUrl(url), (e: unknown) => e instanceof TypeError && /^connect\(url\): .*url/.test(e.message), String(url));
    }
  });

  test("reconnect backoff doubles up to maxDelayMs, jittered to between half and all of it", () => {
    const r = { retries: Infinity, delayMs: 100, maxDelayMs: 1000 };
    assert.deepEqual([0, 1, 2, 3, 4, 60].map((n) => backoffMs(r, n, () => 1)), [100, 200, 400, 800, 1000, 1000]);
    assert.deepEqual([0, 3].map((n) => backoffMs(r, n, () => 0)), [50, 400]);
  });
});

describe("argument checks", () => {
  test("connect() throws TypeError naming the bad argument", () => {
    const cases: Array<[unknown, unknown, RegExp]> = [
      [42, undefined, /connect\(url\): url must be a string/],
      ["ftp://x:1", undefined, /must start with ws:\/\/, wss:\/\/ or tcp:\/\//],
      ["ws://127.0.0.1:1", 5, /options must be an object/],
      ["ws://127.0.0.1:1", { timeoutMs: 5 }, /options has no option "timeoutMs"/],
      ["ws://127.0.0.1:1", { timeout: -1 }, /options\.timeout must be a positive number of milliseconds, got -1/],
      ["ws://127.0.0.1:1", { timeout: Infinity }, /options\.timeout/],
      ["ws://127.0.0.1:1", { maxPending: 0 }, /options\.maxPending must be a positive integer, got 0/],
      ["ws://127.0.0.1:1", { reconnect: 3 }, /options\.reconnect/],
      ["ws://127.0.0.1:1", { reconnect: { retries: -1 } }, /options\.reconnect\.retries/],
      ["ws://127.0.0.1:1", { reconnect: { delayMs: 500, maxDelayMs: 100 } }, /maxDelayMs \(100\) must not be below delayMs \(500\)/],
      ["ws://127.0.0.1:1", { reconnect: { tries: 3 } }, /options\.reconnect has no option "tries"/],
    ];
    for (const [url, options, message] of cases) {
      assert.throws(() => connect(url as string, options as never), (e: unknown) => e instanceof TypeError && message.test(e.message), `${String(url)} ${JSON.stringify(options)}`);
    }
  });

  test("request, send, login, on, off and client() throw TypeError for bad arguments", async () => {
    const gate = await wsGate(greeting());
    const c = await connect(gate.url);
    try {
      for (const route of [42, "Room", "Room.", ".Join", "Room.Join.", ""]) {
        assert.throws(() => c.request(route as string), (e: unknown) => e instanceof TypeError && /request\(route, args, opts\): route must be "Service.Function"/.test(e.message), String(route));
        assert.throws(() => c.send(route as string), (e: unknown) => e instanceof TypeError && /send\(route, msg\): route/.test(e.message), String(route));
      }
      assert.throws(() => c.request("Room.Join", null, { timeout: 0 }), /opts\.timeout must be a positive number of milliseconds, got 0/);
      assert.throws(() => c.request("Room.Join", null, { timeoutMs: 5 } as never), /opts has no option "timeoutMs"/);
      assert.throws(() => c.request("Room.Join", null, 5 as never), /opts must be an object/);
      await assert.rejects(c.login({}, { timeout: "5" as never }), /login\(args, opts\): opts\.timeout/);
      assert.throws(() => c.on("mesage" as never, (() => {}) as never), /on\(event, listener\): event must be one of "message", "close", "disconnect", "reconnect", got "mesage"/);
      assert.throws(() => c.on("message", null as never), /on\(event, listener\): listener must be a function, got null/);
      assert.throws(() => c.off("close", 1 as never), /off\(event, listener\): listener must be a function/);
      assert.throws(() => c.client(""), /client\(service\): service must be a non-empty string/);
      assert.throws(() => (c.client<Record<string, () => void>>("Room") as Record<string, unknown>)["a.b"], /a function name has no dot/);
      assert.equal((c.client("Room") as unknown as { then: unknown }).then, undefined, "a typed client is not a promise");
      await sleep(20);
      assert.deepEqual(gate.peers[0]!.frames, [], "no frame was sent for the refused calls");
    } finally {
      c.close();
    }
  });
});

describe("against a scripted WebSocket gate", () => {
  test("a request gets its REPLY or its ERROR, a MESSAGE is one way, PUSH frames are messages", async () => {
    const gate = await wsGate(greeting(hello("abc.1@gate-1")));
    const c = await connect(gate.url);
    const peer = await gate.nextPeer();
    try {
      assert.equal(c.session, "abc.1@gate-1");
      assert.equal(c.user, null);
      assert.equal(c.state, "open");
      const pushes: unknown[] = [];
      c.on("message", (route, msg) => pushes.push([route, msg]));

      const join = c.request("Room.Join", { room: 7 });
      const [type, id, route, args] = await peer.next();
      assert.deepEqual([type, route, args], [Frame.REQUEST, "Room.Join", { room: 7 }]);
      assert.ok(typeof id === "number" && id >= 1);
      peer.send([5, id, { seat: 3 }]);
      assert.deepEqual(await within(join, 2000, "the reply"), [{ seat: 3 }, null]);

      const room = c.client<{ Leave(a: { why: string }): boolean }>("Lobby.Room");
      const leave = room.Leave({ why: "late" });
      const frame = await peer.next();
      assert.deepEqual([frame[0], frame[2], frame[3]], [Frame.REQUEST, "Lobby.Room.Leave", { why: "late" }]);
      peer.send([6, frame[1], "not_authenticated", "log in first"]);
      const [result, err] = await within(leave, 2000, "the error");
      assert.equal(result, null);
      assert.ok(err instanceof ClientError);
      assert.equal(err.code, "not_authenticated");
      assert.equal(err.message, "log in first");

      assert.equal(c.send("Room.Say", { text: "hi" }), null);
      assert.deepEqual(await peer.next(), [Frame.MESSAGE, "Room.Say", { text: "hi" }]);
      assert.equal(c.send("Room.Bad", { f: () => {} })?.code, "bad_value");

      peer.send([7, "chat", { text: "yo" }]);
      peer.send([7, "push", 1]);
      await within((async () => {
        while (pushes.length < 2) await sleep(5);
      })(), 2000, "two pushes");
      assert.deepEqual(pushes, [["chat", { text: "yo" }], ["push", 1]]);
      // A late answer to an id nobody waits for is dropped, not a protocol error.
      peer.send([5, 999, null]);
      peer.send([9]);
      await sleep(30);
      assert.equal(c.state, "open");
    } finally {
      c.close();
    }
  });

  test("connect with auth sends AUTH and resolves with its REPLY as the user; pushes before a listener are held", async () => {
    const gate = await wsGate((peer) => {
      peer.send(hello("s.2@g", 10_000, true));
      void peer.next().then((frame) => {
        // The AUTH's REPLY and a welcome push in one turn: the push arrives before connect()'s
        // caller can add a listener.
        peer.send([5, frame[1], { uid: 42, name: "ann" }]);
        peer.send([7, "welcome", { n: 1 }]);
      });
    });
    const c = await connect(gate.url, { auth: { token: "t0k" } });
    const peer = gate.peers[0]!;
    try {
      assert.deepEqual(peer.frames[0]!.slice(0, 1).concat(peer.frames[0]!.slice(2)), [Frame.AUTH, { token: "t0k" }]);
      assert.deepEqual(c.user, { uid: 42, data: { name: "ann" } });
      await sleep(20);
      const got = await within(new Promise((resolve) => c.on("message", (route, msg) => resolve([route, msg]))), 2000, "the held push");
      assert.deepEqual(got, ["welcome", { n: 1 }]);
    } finally {
      c.close();
    }
  });

  test("connect rejects with the AUTH's ERROR, and with a KICK's reason", async () => {
    const refusing = await wsGate((peer) => {
      peer.send(hello("s.3@g", 10_000, true));
      void peer.next().then((frame) => peer.send([6, frame[1], "bad_credentials", "wrong token"]));
    });
    await assert.rejects(connect(refusing.url, { auth: { token: "x" } }), (e: unknown) => e instanceof ClientError && e.code === "bad_credentials" && e.message === "wrong token");
    await refusing.peers[0]!.whenClosed();

    const full = await wsGate((peer) => peer.send([8, "gate_full", "10000 clients"]));
    await assert.rejects(connect(full.url), (e: unknown) => e instanceof ClientError && e.code === "gate_full" && /10000 clients/.test(e.message));
  });

  test("a KICK after connecting closes with its reason; pending requests fail disconnected", async () => {
    const gate = await wsGate(greeting());
    const c = await connect(gate.url);
    const peer = await gate.nextPeer();
    const closed = closeOf(c);
    const pending = c.request("Room.Join", {});
    await peer.next();
    peer.send([8, "kicked", "banned"]);
    assert.deepEqual(await closed, ["kicked", "banned"]);
    const [, err] = await within(pending, 2000, "the failed request");
    assert.equal(err?.code, "disconnected");
    assert.equal(c.state, "closed");
    assert.equal((await c.request("Room.Join"))[1]?.code, "disconnected");
    assert.equal(c.send("Room.Say")?.code, "disconnected");
    await peer.whenClosed();
  });

  test("garbage from the gate closes the connection with \"protocol\"", async () => {
    const garbage: Array<[string, Uint8Array | string]> = [
      ["bytes that are not CBOR", new Uint8Array([0xff, 0x00, 0x13])],
      ["a text message", "[9]"],
      ["a map, not a frame", cbor.encode({ type: 5 })],
      ["a frame only clients send", cbor.encode([2, 1, "A.b", null])],
      ["a second HELLO", cbor.encode(hello())],
    ];
    const gate = await wsGate(greeting());
    for (const [what, bytes] of garbage) {
      const c = await connect(gate.url);
      const peer = await gate.nextPeer();
      const closed = closeOf(c);
      const pending = c.request("Room.Join", {});
      await peer.next();
      peer.sendRaw(bytes);
      const [reason, message] = await closed;
      assert.equal(reason, "protocol", what);
      assert.match(message, /gate/, what);
      assert.equal((await pending)[1]?.code, "disconnected", what);
      await peer.whenClosed();
    }
    // Before HELLO, it rejects connect().
    const early = await wsGate((peer) => peer.send([5, 1, null]));
    await assert.rejects(connect(early.url), (e: unknown) => e instanceof ClientError && e.code === "protocol" && /before HELLO/.test(e.message));
  });

  test("a message over maxFrameBytes closes with \"protocol\"", async () => {
    const gate = await wsGate(greeting());
    const c = await connect(gate.url, { maxFrameBytes: 1000 });
    const peer = await gate.nextPeer();
    const closed = closeOf(c);
    peer.send([7, "push", "x".repeat(2000)]);
    const [reason, message] = await closed;
    assert.equal(reason, "protocol");
    assert.match(message, /maxFrameBytes of 1000/);
  });

  test("a request the gate never answers times out; past maxPending, overloaded without sending", async () => {
    const gate = await wsGate(greeting());
    const c = await connect(gate.url, { maxPending: 2 });
    const peer = await gate.nextPeer();
    try {
      const started = performance.now();
      const a = c.request("Room.Join", 1, { timeout: 200 });
      const b = c.request("Room.Join", 2, { timeout: 5000 });
      const [, over] = await c.request("Room.Join", 3);
      assert.equal(over?.code, "overloaded");
      assert.match(over!.message, /maxPending/);
      const [, err] = await within(a, 2000, "the timeout");
      const took = performance.now() - started;
      assert.equal(err?.code, "timeout");
      assert.match(err!.message, /Room\.Join: no answer from the gate within 200 ms/);
      assert.ok(took >= 190 && took < 1500, `timed out after ${took} ms`);
      // Its place is free again.
      const d = c.request("Room.Join", 4, { timeout: 5000 });
      await sleep(20);
      assert.deepEqual(peer.frames.map((f) => f[3]), [1, 2, 4], "the overloaded request was never sent");
      assert.equal(peer.frames[2]![1] !== peer.frames[0]![1], true, "a timed-out id is not reused at once");
      // The late answer to the timed-out request goes nowhere; the others still get theirs.
      peer.send([5, peer.frames[0]![1], "late"]);
      peer.send([5, peer.frames[1]![1], "b"]);
      peer.send([5, peer.frames[2]![1], "d"]);
      assert.deepEqual(await within(b, 2000, "b"), ["b", null]);
      assert.deepEqual(await within(d, 2000, "d"), ["d", null]);
    } finally {
      c.close();
    }
  });

  test("an idle client PINGs every heartbeatMs; a gate that answers keeps it open, a silent one is given up after 3 x heartbeatMs", async () => {
    const answering = await wsGate(greeting(hello("s.4@g", 100)));
    const c = await connect(answering.url);
    const peer = await answering.nextPeer();
    const pinged = (async () => {
      for (;;) {
        const frame = await peer.next(2000);
        if (frame[0] === Frame.PING) peer.send([9]);
      }
    })();
    pinged.catch(() => {});
    await sleep(550);
    assert.equal(c.state, "open", "PONGs keep it open past 3 x heartbeatMs");
    assert.ok(peer.frames.length >= 3 && peer.frames.every((f) => f.length === 1 && f[0] === Frame.PING), `pings: ${JSON.stringify(peer.frames)}`);
    c.close();

    const silent = await wsGate(greeting(hello("s.5@g", 100)));
    const started = performance.now();
    const s = await connect(silent.url);
    const [reason, message] = await closeOf(s, 3000);
    const took = performance.now() - started;
    assert.equal(reason, "heartbeat_timeout");
    assert.match(message, /nothing from the gate for 300 ms/);
    assert.ok(took >= 290 && took < 1500, `closed after ${took} ms`);
    const quiet = silent.peers[0]!;
    assert.ok(quiet.frames.some((f) => f[0] === Frame.PING), "it pinged the silent gate");
    await quiet.whenClosed();
  });

  test("reconnect: a drop is followed by a new session, logged in again with the same args", async () => {
    let n = 0;
    const gate = await wsGate((peer) => {
      n++;
      peer.send(hello(`s${n}.${n}@g`, 10_000, true));
      void peer.next().then((frame) => peer.send([5, frame[1], { uid: "u1", round: n }]));
    });
    const c = await connect(gate.url, { auth: { token: "same" }, reconnect: { delayMs: 20, maxDelayMs: 40 } });
    try {
      assert.equal(c.session, "s1.1@g");
      const first = await gate.nextPeer();
      const pending = c.request("Room.Join", {});
      await first.next();
      const events: unknown[] = [];
      c.on("disconnect", (reason) => events.push(["disconnect", reason]));
      const reconnected = within(new Promise<string>((resolve) => c.on("reconnect", resolve)), 3000, "a reconnect");
      first.close();
      const [, err] = await within(pending, 2000, "the dropped request");
      assert.equal(err?.code, "disconnected");
      assert.equal(c.state, "reconnecting");
      assert.equal((await c.request("Room.Join"))[1]?.code, "disconnected", "nothing is queued while reconnecting");
      assert.equal(await reconnected, "s2.2@g");
      assert.equal(c.session, "s2.2@g");
      assert.equal(c.state, "open");
      assert.deepEqual(c.user, { uid: "u1", data: { round: 2 } });
      assert.deepEqual(events, [["disconnect", "disconnected"]]);
      const second = gate.peers[1]!;
      assert.deepEqual([second.frames[0]![0], second.frames[0]![2]], [Frame.AUTH, { token: "same" }]);
    } finally {
      c.close();
    }
  });

  test("reconnect gives up after its retries, and never reconnects after a KICK \"kicked\" or close()", async () => {
    const gate = await wsGate(greeting());
    const c = await connect(gate.url, { reconnect: { retries: 2, delayMs: 10, maxDelayMs: 20 } });
    const closed = closeOf(c, 3000);
    await gate.close();
    const [reason, message] = await closed;
    assert.equal(reason, "disconnected");
    assert.match(message, /gave up reconnecting after 2 attempt\(s\)/);

    const kicking = await wsGate(greeting());
    const k = await connect(kicking.url, { reconnect: { delayMs: 10 } });
    const kClosed = closeOf(k);
    (await kicking.nextPeer()).send([8, "kicked", "bye"]);
    assert.deepEqual(await kClosed, ["kicked", "bye"]);
    await sleep(50);
    assert.equal(kicking.peers.length, 1, "no reconnect after kicked");

    const closing = await wsGate(greeting());
    const u = await connect(closing.url, { reconnect: true });
    const uClosed = closeOf(u);
    u.close();
    assert.deepEqual(await uClosed, ["closed", "closed by the client"]);
    await closing.peers[0]!.whenClosed();
    await sleep(50);
    assert.equal(closing.peers.length, 1, "no reconnect after close()");
  });

  test("connect to a port nobody listens on rejects unavailable; a gate that never says HELLO, timeout", async () => {
    const port = await closedPort();
    for (const url of [`ws://127.0.0.1:${port}`, `tcp://127.0.0.1:${port}`]) {
      await assert.rejects(within(connect(url), 3000, "the refusal"), (e: unknown) => e instanceof ClientError && e.code === "unavailable" && /cannot connect/.test(e.message), url);
    }
    const mute = await wsGate();
    const started = performance.now();
    await assert.rejects(connect(mute.url, { timeout: 200 }), (e: unknown) => e instanceof ClientError && e.code === "timeout" && /no session within 200 ms/.test(e.message));
    assert.ok(performance.now() - started < 1500);
    await mute.peers[0]!.whenClosed();
  });
});

describe("against a scripted TCP gate", () => {
  test("frames split byte by byte and merged in one write are read alike", async () => {
    const gate = await tcpGate((peer) => {
      // HELLO one byte per write.
      const bytes = lengthPrefixed(cbor.encode(hello("t.1@g")));
      bytes.forEach((b, i) => setTimeout(() => peer.sendRaw(new Uint8Array([b])), i));
    });
    const c = await within(connect(gate.url), 3000, "connect");
    const peer = await gate.nextPeer();
    try {
      assert.equal(c.session, "t.1@g");
      const pushes: unknown[] = [];
      c.on("message", (_route, msg) => pushes.push(msg));
      const a = c.request("A.f", 1);
      const b = c.request("A.f", 2);
      const fa = await peer.next();
      const fb = await peer.next();
      peer.sendRaw(Buffer.concat([lengthPrefixed(cbor.encode([5, fa[1], "ra"])), lengthPrefixed(cbor.encode([7, "push", "p"])), lengthPrefixed(cbor.encode([5, fb[1], "rb"]))]));
      assert.deepEqual(await within(Promise.all([a, b]), 2000, "the replies"), [["ra", null], ["rb", null]]);
      assert.deepEqual(pushes, ["p"]);
    } finally {
      c.close();
    }
  });

  test("a length prefix over maxFrameBytes closes with \"protocol\" without waiting for the body", async () => {
    const gate = await tcpGate(greeting());
    const c = await connect(gate.url, { maxFrameBytes: 1024 });
    const peer = await gate.nextPeer();
    const closed = closeOf(c);
    peer.sendRaw(new Uint8Array([0, 0, 4, 1]));
    const [reason, message] = await closed;
    assert.equal(reason, "protocol");
    assert.match(message, /a frame of 1025 bytes, over the client's maxFrameBytes of 1024/);
    await peer.whenClosed();
  });
});

describe("the browser bundle (dist/client/luanet-client.js)", () => {
  const path = new URL("../dist/client/luanet-client.js", import.meta.url);

  test("holds no Node code: no require(, no node: import, no ws", () => {
    const text = readFileSync(path, "utf8");
    // (assert.ok, not doesNotMatch: a failure would print the whole bundle)
    assert.ok(!/\brequire\s*\(/.test(text), "a require(");
    assert.ok(!/["'`]node:/.test(text), "a node: import");
    assert.ok(!/(import\s*\(|from)\s*["'`]ws["'`]/.test(text), "an import of ws");
  });

  test("talks to a gate through globalThis.WebSocket, as in a browser (binaryType arraybuffer)", async () => {
    const g = globalThis as { WebSocket?: unknown };
    const before = g.WebSocket;
    // ws's WebSocket has the browser's API; the bundle takes whatever globalThis offers.
    const made: WsWebSocket[] = [];
    g.WebSocket = class extends WsWebSocket {
      constructor(url: string) {
        super(url);
        made.push(this);
      }
    };
    try {
      const bundle = (await import(path.href)) as typeof import("../stdlib/client.ts");
      const gate = await wsGate(greeting(hello("b.1@g")));
      const c = await bundle.connect(gate.url);
      const peer = await gate.nextPeer();
      try {
        assert.equal(made.length, 1);
        assert.equal(made[0]!.binaryType, "arraybuffer");
        const reply = c.request("Room.Join", { x: new Uint8Array([1, 2]) });
        const frame = await peer.next();
        assert.deepEqual([...(frame[3] as { x: Uint8Array }).x], [1, 2], "a byte string");
        peer.send([5, frame[1], { seat: 1 }]);
        assert.deepEqual(await within(reply, 2000, "the reply"), [{ seat: 1 }, null]);
        await assert.rejects(bundle.connect(`tcp://127.0.0.1:${gate.port}`), (e: unknown) => e instanceof bundle.ClientError && e.code === "unavailable" && /need Node/.test(e.message));
      } finally {
        c.close();
      }
    } finally {
      g.WebSocket = before;
    }
  });
});

/** What tsc (tsc -p tests, run by npm test) must accept and refuse of the typed view; never run. */
interface Room {
  Join(a: { player: string }): { seat: number };
  Leave(): Promise<boolean>;
}
export function typedUses(c: Connection): void {
  const room = c.client<Room>("Room");
  void room.Join({ player: "ann" }).then(([r, err]) => {
    if (err === null) {
      const seat: number = r.seat;
      void seat;
    } else {
      const code: string = err.code;
      void code;
    }
  });
  void room.Leave().then(([ok]) => {
    const b: boolean | null = ok;
    void b;
  });
  void room.Join({ player: "ann" }, { timeout: 100 });
  // @ts-expect-error a wrong argument
  void room.Join({ player: 1 });
  // @ts-expect-error no such function
  void room.Jion({ player: "ann" });
  // @ts-expect-error Join takes an argument
  void room.Join();
  // @ts-expect-error an unknown event
  c.on("messages", () => {});
  // @ts-expect-error a message listener's route is a string
  c.on("message", (route: number) => void route);
}
