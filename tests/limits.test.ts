/**
 * Bounds in bytes and time against live processes (issue 11, items 6, 7 and 9). Each attack is
 * made from this test process over raw sockets on 127.0.0.1 (or by a luanet script where the
 * attacker must be a luanet caller), while a well-behaved luanet client keeps calling the service
 * and must get only correct answers. Where memory is the point, the attacked process's rss is
 * sampled from /proc and bounded.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { decode, encode } from "../runtime/wire/envelope.ts";
import { FrameDecoder, LinkLimitError } from "../runtime/wire/frame.ts";
import { lastJson, launch, poll, startNameService, startService, type NameService, type Service } from "./helpers/cluster.ts";
import { callFrame, closesWithin, dial, frame, helloFrame, listenPort, rawCbor, rssOf } from "./helpers/raw.ts";

const MiB = 1024 * 1024;
const hello = helloFrame();


/** Sample `pid`'s rss every 50 ms until `stop()`; returns the first and the largest sample. */
function sampleRss(pid: number): { stop: () => { first: number; max: number } } {
  const first = rssOf(pid);
  let max = first;
  const timer = setInterval(() => {
    try {
      max = Math.max(max, rssOf(pid));
    } catch {
      // exited
    }
  }, 50);
  timer.unref(); // a test that fails before stop() must not leave it holding the runner
  return { stop: () => (clearInterval(timer), { first, max }) };
}

/** Open `count` raw connections to `port`, 500 at a time, each sending `bytes` (maybe none). */
async function flood(port: number, count: number, bytes: Buffer): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let done = 0; done < count; done += 500) {
    await Promise.all(Array.from({ length: Math.min(500, count - done) }, () => new Promise<void>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        if (bytes.length > 0) socket.write(bytes);
        resolve();
      });
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
      sockets.push(socket);
    })));
  }
  return sockets;
}

/**
 * A peer that has not read starts reading (and discarding), since a socket that never reads never
 * learns it was closed: resolves true when it closes within `closeMs` after that. A service that
 * did not close it sends it everything, and it stays open.
 */
function closesOnceReading(socket: Socket, closeMs: number): Promise<boolean> {
  socket.on("data", () => {});
  socket.resume();
  return closesWithin(socket, closeMs);
}

/** How many connections `proc` has said it closed for going past a limit (its lines, summed). */
const closedPastLimit = (proc: Service | NameService["proc"]) =>
  [...proc.stderr.matchAll(/closed (\d+) connection\(s\) that went past a limit/g)].reduce((n, m) => n + Number(m[1]), 0);

/** Write `data`, waiting (at most `ms`) for the socket to take it; false if it would not. */
function writeAll(socket: Socket, data: Buffer, ms = 2000): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false);
  if (socket.write(data)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.off("drain", drained).off("close", closed);
      resolve(ok);
    };
    const drained = () => done(true);
    const closed = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    socket.on("drain", drained).on("close", closed);
  });
}


/** A target service with Plus, for the well-behaved client, plus `extra` source. */
async function target(ns: NameService, extra = "", env: NodeJS.ProcessEnv = {}): Promise<{ svc: Service; port: number }> {
  const svc = await startService(ns, `
    luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
    ${extra}
    luanet.StartLocalService("Target", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { env });
  return { svc, port: listenPort(svc.stderr, "Target") };
}

/** A well-behaved client calling Target.Plus (and the name service) for `ms`; prints { ok, bad }. */
function goodClient(ns: NameService, ms: number, env: NodeJS.ProcessEnv = {}) {
  return launch(ns, `
    export default function* (ms: string) {
      let ok = 0, bad = 0;
      const until = Date.now() + Number(ms);
      while (Date.now() < until) {
        const [sum, err] = yield* luanet.RPCCall("Target", "Plus", { a: ok, b: 1 }, { timeout: 5000 });
        if (err === null && sum === ok + 1) ok++; else { bad++; console.log("failed:", err?.code, err?.message); }
        if (ok % 20 === 0 && !(yield* luanet.GetRemoteFuncProvider("Plus"))[0]?.includes("Target")) { bad++; console.log("failed: lookup"); }
        yield* Sche.Sleep(10);
      }
      console.log(JSON.stringify({ ok, bad }));
      luanet.Exit(0);
    }
  `, { args: [String(ms)], name: "good.ts", env });
}

async function assertGood(client: ReturnType<typeof goodClient>, minimum = 20): Promise<void> {
  const exit = await client.exited(60_000);
  assert.equal(exit.code, 0, exit.stdout + exit.stderr);
  const { ok, bad } = lastJson<{ ok: number; bad: number }>(exit.stdout);
  assert.equal(bad, 0, exit.stdout);
  assert.ok(ok >= minimum, `the well-behaved client made only ${ok} good calls`);
}

function growth(what: string, { first, max }: { first: number; max: number }, boundMiB: number, t: { diagnostic(s: string): void }): void {
  t.diagnostic(`${what}: rss ${(first / MiB).toFixed(0)} MiB before, ${(max / MiB).toFixed(0)} MiB at most`);
  assert.ok(max - first < boundMiB * MiB, `${what}'s rss grew by ${((max - first) / MiB).toFixed(0)} MiB (bound: ${boundMiB} MiB)`);
}

test("a caller that never reads its replies (1,000 List calls to the name service) is disconnected; the name service's rss stays bounded and lookups keep working", async (t) => {
  const ns = await startNameService();
  await target(ns);
  // Make List's answer large: 100 registrations of about 10 KB each (about 1 MB per reply), each
  // on a connection of its own (a connection carries one registration).
  const funcs = Array.from({ length: 200 }, (_, i) => `function_number_${i}_${"f".repeat(30)}`);
  let registered = 0;
  const registrars = await Promise.all(Array.from({ length: 100 }, async (_, i) => {
    const socket = await dial(ns.port);
    const replies = new FrameDecoder(1 << 20);
    socket.on("data", (chunk) => replies.push(chunk, (body) => {
      if ((decode(body) as unknown as unknown[])[0] === 3) registered++;
    }));
    socket.write(Buffer.concat([hello, callFrame(1, "Register", {
      name: `filler-${i}`, type: "stream", addr: { family: "inet", ip: "127.0.0.1", port: 1 }, pid: 1, host: "h", funcs, started: 0,
      token: `filler-token-${i}-${"t".repeat(16)}`,
    })]));
    return socket;
  }));
  const heartbeat = setInterval(() => { for (const r of registrars) r.write(frame(encode([5]))); }, 1000);
  try {
    await poll("the registrations", () => (registered === 100 ? true : undefined), 20_000);
    const client = goodClient(ns, 4000);
    const rss = sampleRss(ns.proc.child.pid!);
    const attacker = await dial(ns.port);
    attacker.pause(); // never reads
    attacker.on("error", () => {});
    attacker.write(Buffer.concat([hello, ...Array.from({ length: 1000 }, (_, i) => callFrame(i + 1, "List", null))]));
    // The name service says so (a second after closing it); then the caller reads, and sees the close.
    await ns.proc.until("the name service to close the caller that does not read", () => (closedPastLimit(ns.proc) >= 1 ? true : undefined), 30_000);
    assert.ok(await closesOnceReading(attacker, 10_000), "the name service disconnected the caller that does not read");
    assert.equal(closedPastLimit(ns.proc), 1, ns.proc.stderr);
    await assertGood(client);
    growth("the name service", rss.stop(), 160, t);
  } finally {
    clearInterval(heartbeat);
    for (const r of registrars) r.destroy();
  }
});

test("a caller that never reads large replies is disconnected at maxSendBytes, with the service's rss bounded", async (t) => {
  const ns = await startNameService();
  const { svc, port } = await target(ns, `luanet.RegRPCFunction("Big", () => "x".repeat(1024 * 1024));`);
  const client = goodClient(ns, 3000);
  const rss = sampleRss(svc.child.pid!);
  const attacker = await dial(port);
  attacker.pause();
  attacker.on("error", () => {});
  // 500 calls of a few bytes ask for 500 MiB of replies.
  attacker.write(Buffer.concat([hello, ...Array.from({ length: 500 }, (_, i) => callFrame(i + 1, "Big", null))]));
  await svc.until("the service to close the caller that does not read", () => (closedPastLimit(svc) >= 1 ? true : undefined), 30_000);
  assert.ok(await closesOnceReading(attacker, 10_000), "the service disconnected the caller that does not read");
  assert.equal(closedPastLimit(svc), 1, svc.stderr);
  await assertGood(client);
  growth("the service", rss.stop(), 128, t);
});

test("40 callers that never read, each under maxSendBytes, cannot get round it together: maxSendBytesTotal closes the largest, rss bounded", async (t) => {
  const ns = await startNameService();
  const { svc, port } = await target(ns, `
    luanet.Configure({ maxSendBytesTotal: 64 * 1024 * 1024 });
    luanet.RegRPCFunction("Big", () => "x".repeat(1_000_000));
  `);
  // 8 s: on a loaded machine making the 1,120 results can hold the service for most of 4 s, and
  // the client must still get its calls through once the non-readers are closed.
  const client = goodClient(ns, 8000);
  const rss = sampleRss(svc.child.pid!);
  // Each asks for 28 MB (under maxSendBytes, 32 MiB) and never reads: 1.1 GB in all, unbounded.
  const attackers = await Promise.all(Array.from({ length: 40 }, () => dial(port)));
  for (const a of attackers) {
    a.pause();
    a.on("error", () => {});
    a.write(Buffer.concat([hello, ...Array.from({ length: 28 }, (_, i) => callFrame(i + 1, "Big", null))]));
  }
  // Wait until the service says it closed most of them, however long a loaded machine takes to
  // make the results; then every attacker reads, and the closed ones see it.
  await svc.until("the service to close 30 of the non-readers", () => (closedPastLimit(svc) >= 30 ? true : undefined), 60_000);
  const closed = await Promise.all(attackers.map((a) => closesOnceReading(a, 10_000)));
  t.diagnostic(`${closed.filter(Boolean).length} of 40 non-readers were disconnected`);
  assert.ok(closed.filter(Boolean).length >= 30, "most of the non-readers were disconnected");
  await assertGood(client);
  // Unbounded, the queues held 1.1 GB to the end. Bounded, the peak is the garbage of the 1,120
  // results of 1 MB made in a few seconds, which the collector has not caught up with yet.
  growth("the service", rss.stop(), 1024, t);
  t.diagnostic(`the service's rss once the non-readers were gone: ${(rssOf(svc.child.pid!) / MiB).toFixed(0)} MiB`);
});

test("92 MiB of small messages to a service that does not take them: its mailbox stops at mailboxBytes, the sender stops being read, rss bounded", async (t) => {
  const ns = await startNameService();
  const { svc, port } = await target(ns);
  const client = goodClient(ns, 4000);
  const rss = sampleRss(svc.child.pid!);
  const attacker = await dial(port);
  attacker.on("error", () => {});
  // 920-byte messages that decode into arrays of 900 numbers: small on the wire, large in memory.
  const message = frame(rawCbor.encode([1, Array.from({ length: 900 }, (_, i) => i % 24)]));
  const batch = Buffer.concat([hello, ...Array.from({ length: 1000 }, () => message)]);
  let sent = 0;
  for (let i = 0; i < 100 && (await writeAll(attacker, i === 0 ? batch : batch.subarray(hello.length))); i++) sent += 1000;
  t.diagnostic(`the service took ${sent} messages (${((sent * message.length) / MiB).toFixed(0)} MiB) before it stopped reading`);
  assert.ok(sent < 100_000, "the service kept reading a sender its mailbox had no room for");
  await assertGood(client);
  growth("the service", rss.stop(), 128, t);
  attacker.destroy();
});

test("messages that decode into far more memory than their size (empty maps) are refused before decoding, from ten connections at once, rss bounded", async (t) => {
  const ns = await startNameService();
  const { svc, port } = await target(ns);
  const client = goodClient(ns, 4000);
  const rss = sampleRss(svc.child.pid!);
  // MSG [1, [{}, {}, ...]]: 2,000,000 empty maps, 2 MB on the wire, ~100 MiB once decoded.
  const n = 2_000_000;
  const body = Buffer.concat([Buffer.from([0x82, 0x01, 0x9a, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]), Buffer.alloc(n, 0xa0)]);
  const attackers = await Promise.all(Array.from({ length: 10 }, () => dial(port)));
  for (const a of attackers) {
    a.on("error", () => {});
    a.write(Buffer.concat([hello, frame(body)]));
  }
  const closed = await Promise.all(attackers.map((a) => closesWithin(a, 10_000)));
  assert.deepEqual(closed, attackers.map(() => true), "every sender of such a message was disconnected");
  await svc.waitFor(/MiB once decoded/, 5000, "stderr");
  await assertGood(client);
  growth("the service", rss.stop(), 64, t);
});

test("calls queued behind stuck handlers: the queue is bounded in bytes, calls whose callers gave up never run, a CALL without a deadline still does", async (t) => {
  const ns = await startNameService();
  const { svc, port } = await target(ns, `
    luanet.Configure({ maxConcurrentHandlers: 2 });
    let started = 0;
    luanet.RegRPCFunction("Stuck", function* () { started++; yield* Sche.Sleep(4000); return "done"; });
    luanet.RegRPCFunction("Started", () => started);
  `);
  const client = goodClient(ns, 4000);
  const rss = sampleRss(svc.child.pid!);
  // 300 calls of 1 MiB each, with a 1 s deadline: two run, the rest queue or are refused.
  const attacker = launch(ns, `
    export default function* () {
      const pad = "z".repeat(1024 * 1024);
      const codes: Record<string, number> = {};
      const tasks = [];
      for (let i = 0; i < 300; i++) {
        tasks.push(Sche.Spawn(function* () {
          const [, err] = yield* luanet.RPCCall("Target", "Stuck", pad, { timeout: 1000 });
          // "overloaded" from the callee's queue, not from our own send queue (maxSendBytes)
          const code = err === null ? "ok" : err.code === "overloaded" && /handlerQueueBytes/.test(err.message) ? "queue_full" : err.code;
          codes[code] = (codes[code] ?? 0) + 1;
        }));
        yield* Sche.Sleep(2); // let each call reach the service
      }
      for (const task of tasks) yield* task;
      console.log(JSON.stringify(codes));
      luanet.Exit(0);
    }
  `, { name: "queue.ts" });
  const codes = lastJson<Record<string, number>>((await attacker.exited(30_000)).stdout);
  t.diagnostic(`the 300 calls: ${JSON.stringify(codes)}`);
  assert.ok((codes.queue_full ?? 0) > 0, "past handlerQueueBytes calls are refused overloaded");
  assert.equal((codes.timeout ?? 0) + (codes.queue_full ?? 0) + (codes.overloaded ?? 0), 300, JSON.stringify(codes));
  // A foreign peer's CALL with no deadline (4 items) queues behind and is answered in the end.
  const raw = await dial(port);
  const answers = new FrameDecoder(1 << 20);
  const answer = new Promise<unknown[]>((resolve) => raw.on("data", (chunk) => answers.push(chunk, (body) => resolve(decode(body) as unknown as unknown[]))));
  raw.write(Buffer.concat([hello, callFrame(7, "Stuck", null)]));
  assert.deepEqual(await Promise.race([answer, new Promise((r) => setTimeout(() => r("no answer within 15 s"), 15_000))]), [3, 7, "done"]);
  raw.destroy();
  const started = await new Promise<unknown[]>((resolve) => {
    const probe = connect(port, "127.0.0.1", () => probe.write(Buffer.concat([hello, callFrame(1, "Started", null)])));
    const d = new FrameDecoder(1 << 20);
    probe.on("data", (chunk) => d.push(chunk, (body) => (probe.destroy(), resolve(decode(body) as unknown as unknown[]))));
  });
  assert.deepEqual(started, [3, 1, 3], "only the first two calls and the one without a deadline ran");
  await assertGood(client);
  growth("the service", rss.stop(), 160, t);
});

test("20 connections that send 15 MiB of a 16 MiB frame and stop: partial frames stay within partialFrameBytes and are closed after frameTimeout", async (t) => {
  const ns = await startNameService();
  const { svc, port } = await target(ns, `luanet.Configure({ partialFrameBytes: 32 * 1024 * 1024, frameTimeout: 3000 });`);
  const client = goodClient(ns, 4000);
  const rss = sampleRss(svc.child.pid!);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(16 * MiB);
  const piece = Buffer.alloc(MiB, 0x61);
  const attackers = await Promise.all(Array.from({ length: 20 }, async () => {
    const socket = await dial(port);
    socket.on("error", () => {});
    if (await writeAll(socket, Buffer.concat([hello, header]))) {
      for (let i = 0; i < 15 && (await writeAll(socket, piece)); i++);
    }
    return socket;
  }));
  const closed = await Promise.all(attackers.map((s) => closesWithin(s, 15_000)));
  assert.equal(closed.filter(Boolean).length, 20, "every connection with a stalled partial frame was closed");
  await assertGood(client);
  growth("the service", rss.stop(), 128, t);
  // Those that would take partial frames past the budget were closed at once, the rest in time.
  await svc.waitFor(/closed \d+ connection\(s\) that went past a limit/, 5000, "stderr");
  await svc.waitFor(/closed \d+ connection\(s\) with a frame still incomplete after 3000 ms/, 5000, "stderr");
});

test("10,000 connections that send HELLO and nothing more do not lock out a new caller, and are closed after idleTimeout", async (t) => {
  const ns = await startNameService();
  const { svc, port } = await target(ns, `luanet.Configure({ idleTimeout: 3000 });`);
  const client = goodClient(ns, 6000);
  const sockets = await flood(port, 10_000, hello);
  const held = sockets.filter((s) => !s.destroyed).length;
  t.diagnostic(`of ${sockets.length} idle connections, ${held} were held at once (the rest made room for newer ones)`);
  // A new caller, while they are held: a CLI call on a fresh connection.
  const late = launch(ns, `
    export default function* () {
      console.log(JSON.stringify(yield* luanet.RPCCall("Target", "Plus", { a: 2, b: 3 }, { timeout: 5000 })));
      luanet.Exit(0);
    }
  `, { name: "late.ts" });
  const exit = await late.exited(20_000);
  assert.deepEqual(lastJson(exit.stdout), [5, null], exit.stderr);
  await assertGood(client);
  const closed = await Promise.all(sockets.map((s) => closesWithin(s, 15_000)));
  assert.equal(closed.filter(Boolean).length, sockets.length, "every idle connection was closed");
  assert.ok(held < sockets.length, "newer connections took the places of older idle ones");
  await svc.waitFor(/closed \d+ connection\(s\) idle for over 3000 ms/, 5000, "stderr");
  for (const s of sockets) s.destroy();
});

test("SIGTERM with 300 queued calls: no queued handler starts, the 299 queued callers get draining (their calls never ran), the running one shutting_down once the drain grace ends, the process exits well within its shutdown grace, and its log stays short", async () => {
  const ns = await startNameService();
  const { svc } = await target(ns, `
    luanet.Configure({ maxConcurrentHandlers: 1 });
    let n = 0, arrived = 0;
    // Called as each call arrives, queued or not; the body runs when the call gets a handler.
    luanet.RegRPCFunction("Work", () => {
      if (++arrived === 300) console.log("300 calls arrived");
      return (function* () { console.log("handler " + ++n + " started"); yield* Sche.Sleep(60_000); return "done"; })();
    });
  `, { LUANET_SHUTDOWN_GRACE_MS: "30000", LUANET_DRAIN_MS: "500" });
  const callers = launch(ns, `
    export default function* () {
      const codes: Record<string, number> = {};
      const tasks = Array.from({ length: 300 }, () => Sche.Spawn(function* () {
        const [, err] = yield* luanet.RPCCall("Target", "Work", null, { timeout: 25_000 });
        codes[err?.code ?? "ok"] = (codes[err?.code ?? "ok"] ?? 0) + 1;
      }));
      for (const task of tasks) yield* task;
      console.log(JSON.stringify(codes));
      luanet.Exit(0);
    }
  `, { name: "callers.ts" });
  await svc.waitFor(/^handler 1 started$/m, 15_000);
  await svc.waitFor(/^300 calls arrived$/m, 15_000); // the other 299 are in the queue
  const logBefore = svc.stderr.length;
  svc.child.kill("SIGTERM");
  // Its grace is 30 s: waiting for the halted handler's queue would take that long.
  const exit = await svc.exited(10_000);
  assert.equal(exit.code, 143, exit.stderr);
  assert.doesNotMatch(exit.stdout, /handler 2 started/);
  const out = await callers.exited(10_000);
  assert.deepEqual(lastJson(out.stdout), { draining: 299, shutting_down: 1 }, out.stderr);
  assert.ok(exit.stderr.length - logBefore < 2000, `the shutdown wrote ${exit.stderr.length - logBefore} bytes of log:\n${exit.stderr.slice(logBefore)}`);
});

test("with a cluster secret, 3,000 connections that never authenticate do not lock a member out", async () => {
  const secret = { LUANET_SECRET: randomBytes(32).toString("hex") };
  const ns = await startNameService({ env: secret });
  // 3,000 would fill all 500 places for the 10 s the handshake may take, without displacement.
  const { port } = await target(ns, "luanet.Configure({ maxConnections: 500 });", secret);
  const client = goodClient(ns, 5000, secret);
  const sockets = await flood(port, 3000, Buffer.alloc(0));
  const late = launch(ns, `
    export default function* () {
      console.log(JSON.stringify(yield* luanet.RPCCall("Target", "Plus", { a: 2, b: 3 }, { timeout: 5000 })));
      luanet.Exit(0);
    }
  `, { name: "late.ts", env: secret });
  const exit = await late.exited(20_000);
  assert.deepEqual(lastJson(exit.stdout), [5, null], exit.stderr);
  await assertGood(client);
  for (const s of sockets) s.destroy();
});

test("partial frames share one budget over all decoders; a decoder gives its bytes back when released", () => {
  const budget = () => 1000;
  const a = new FrameDecoder(1 << 20, budget);
  const b = new FrameDecoder(1 << 20, budget);
  const start = Buffer.alloc(604);
  start.writeUInt32BE(10_000); // a 10,000-byte frame, 600 bytes of it sent
  a.push(start, () => assert.fail("no frame is complete"));
  assert.ok(a.partialSince > 0);
  assert.throws(() => b.push(start, () => {}), LinkLimitError, "two partial frames of 604 bytes exceed 1000");
  b.release();
  a.release();
  assert.equal(a.partialSince, 0);
  b.push(start, () => {}); // the budget is free again
  b.release();
});
