/**
 * A live service under hostile input: garbage, truncated and oversized frames, invalid and
 * deeply nested CBOR, wrong envelopes, prototype-pollution keys, connections that never speak,
 * and a thousand connections at once. Meanwhile a well-behaved client keeps calling, and every
 * one of its calls must succeed; afterwards the service is alive and Object.prototype untouched.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { decode, encode } from "../runtime/wire/envelope.ts";
import { FrameDecoder } from "../runtime/wire/frame.ts";
import { lastJson, launch, poll, startNameService, startService, steadyPlusClient, tool } from "./helpers/cluster.ts";
import { closedBy, frame, helloFrame, listenPort, rawCbor } from "./helpers/raw.ts";

const hello = helloFrame();

/** Call `func` as a raw, nameless client and return the reply envelope. */
function rawCall(port: number, func: string, args: unknown): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, "127.0.0.1", () => socket.write(Buffer.concat([hello, frame(rawCbor.encode([2, 1, func, args]))])));
    const decoder = new FrameDecoder(1 << 20);
    const timer = setTimeout(() => reject(new Error("no reply within 5 s")), 5000);
    socket.on("data", (chunk) => decoder.push(chunk, (body) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(decode(body) as unknown as unknown[]);
    }));
    socket.on("error", reject);
  });
}

test("hostile input never crashes a service, and a well-behaved client keeps getting answers", async () => {
  const ns = await startNameService();
  const target = await startService(ns, `
    luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
    luanet.RegRPCFunction("Probe", (args: object) => ({
      polluted: ({} as { polluted?: unknown }).polluted ?? null,
      prototypeKeys: Object.getOwnPropertyNames(Object.prototype).length,
      argsArePlain: Object.getPrototypeOf(args) === Object.prototype,
      heap: process.memoryUsage().heapUsed,
    }));
    luanet.StartLocalService("Target", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `, { env: { LUANET_HELLO_TIMEOUT_MS: "500" } });
  const port = listenPort(target.stderr, "Target");
  const [, , before] = await rawCall(port, "Probe", {}) as [number, number, { prototypeKeys: number; heap: number }];

  const client = launch(ns, steadyPlusClient("Target"), { args: ["5000"] });

  const nested = Buffer.concat([Buffer.alloc(100_000, 0x81), Buffer.from([1])]);
  const cases: [string, Buffer][] = [
    ["random bytes", Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff))],
    ["a length prefix of 4 GiB", Buffer.from("ffffffff00", "hex")],
    ["invalid CBOR", Buffer.concat([hello, frame(Buffer.from("ff", "hex"))])],
    ["CBOR nested 100,000 deep", Buffer.concat([hello, frame(nested)])],
    ["an array of 2^32 items declared, not sent", Buffer.concat([hello, frame(Buffer.from("9b0000000100000000", "hex"))])],
    ["a frame before HELLO", frame(encode([2, 1, "Plus", { a: 1, b: 2 }]))],
    ["an unknown envelope type", Buffer.concat([hello, frame(rawCbor.encode([9, 1]))])],
    ["an envelope that is a map", Buffer.concat([hello, frame(rawCbor.encode({ type: 2 }))])],
    ["a CALL with a negative id", Buffer.concat([hello, frame(rawCbor.encode([2, -1, "Plus", {}]))])],
    ["a HELLO of another protocol version", frame(rawCbor.encode([0, 99, null, null, 1, null]))],
    ["a connection that never speaks", Buffer.alloc(0)],
  ];
  const closed = await Promise.all(cases.map(([, bytes]) => closedBy(port, bytes)));
  cases.forEach(([what], i) => assert.ok(closed[i], `the service closed the connection on ${what}`));

  // A truncated frame: the service waits for the rest, and is fine when the peer goes away.
  await new Promise<void>((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(Buffer.concat([hello, Buffer.from("0000006482", "hex")])));
    socket.on("close", () => resolve());
    socket.on("error", () => {});
  });

  // __proto__ and constructor keys arrive as data and pollute nothing.
  const hostileArgs = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}') as object;
  const [type, id, probe] = await rawCall(port, "Probe", hostileArgs) as [number, number, { polluted: unknown; prototypeKeys: number; argsArePlain: boolean }];
  assert.deepEqual([type, id], [3, 1]);
  assert.equal(probe.polluted, null);
  assert.equal(probe.prototypeKeys, before.prototypeKeys);
  assert.equal(probe.argsArePlain, true);

  // A thousand connections at once, all of which never speak: refused by the HELLO timeout.
  const many = await Promise.all(Array.from({ length: 1000 }, () => closedBy(port, Buffer.alloc(0), 10_000)));
  assert.equal(many.filter(Boolean).length, 1000);

  const exit = await client.exited(20_000);
  assert.equal(exit.code, 0, exit.stderr);
  const { ok, bad } = lastJson<{ ok: number; bad: number }>(exit.stdout);
  assert.equal(bad, 0, exit.stdout);
  assert.ok(ok > 50, `the client made ${ok} good calls`);

  assert.equal(target.child.exitCode, null, "the service is still running");
  const call = await tool(ns, ["call", "Target", "Plus", '{"a":40,"b":2}']);
  assert.equal(call.stdout.trim(), "42");
  const [, , after] = await rawCall(port, "Probe", {}) as [number, number, { heap: number }];
  assert.ok(after.heap < before.heap + 64 * 1024 * 1024, `heap grew from ${before.heap} to ${after.heap}`);
  assert.match(target.stderr, /connection from an unnamed process .* closed: .*(exceeds the maximum|invalid CBOR|HELLO)/);
});

test("connections past maxConnections that have sent no request make room for new ones, logged once, and service goes on", async () => {
  const ns = await startNameService();
  const target = await startService(ns, `
    luanet.Configure({ maxConnections: 20 });
    luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
    luanet.StartLocalService("Capped", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    luanet.Register2Name(NS);
  `);
  const port = Number(/Capped listening on 127\.0\.0\.1:(\d+)/.exec(target.stderr)![1]);
  const sockets: Socket[] = [];
  let closed = 0;
  await Promise.all(Array.from({ length: 60 }, () => new Promise<void>((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(hello);
      resolve();
    });
    sockets.push(socket);
    socket.on("error", () => {});
    socket.on("close", () => {
      closed++;
      resolve();
    });
  })));
  // The service's own link to the name service is outgoing, so all 20 places are ours. None of
  // these connections has sent more than HELLO: each newcomer takes the place of the oldest, and
  // the service says how many it closed, once a second at most. Wait for it to have said 40,
  // and for the 40 to have closed here, however long a loaded machine takes; then 20 are open.
  const said = () => [...target.stderr.matchAll(/closed (\d+) connection\(s\) on 127\.0\.0\.1:\d+ that had not yet sent a request, to make room/g)].map((m) => Number(m[1]));
  await target.until("the service to say it closed 40 connections", () => (said().reduce((a, b) => a + b, 0) >= 40 ? true : undefined), 15_000);
  await poll("the 40 displaced connections closed here", () => (closed >= 40 ? true : undefined), 10_000, 20);
  assert.equal(said().reduce((a, b) => a + b, 0), 40, target.stderr);
  // All 60 arrive at once, so the 40 come within a second or two: a line a second, not one each.
  assert.ok(said().length <= 3, `${said().length} lines about the 40 closed connections:\n${target.stderr}`);
  assert.equal(closed, 40);
  assert.equal(sockets.filter((s) => !s.destroyed).length, 20, "the other 20 connections are held");
  for (const socket of sockets) socket.destroy();
  // (20 s: the tool answers at once, but its exit gives each link up to 5 s to close, and on a
  // loaded machine the capped service is slow to close its side.)
  const call = await tool(ns, ["call", "Capped", "Plus", '{"a":1,"b":2}'], 20_000);
  assert.equal(call.stdout.trim(), "3", call.stderr);
});
