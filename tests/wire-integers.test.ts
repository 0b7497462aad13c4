/**
 * Envelope integers as a client in another language sees them (docs/protocol.md sections 3, 4):
 * a call id is echoed as the CBOR integer the caller sent, whatever its size up to 2^53 - 1 (cbor-x
 * alone writes 2^32 and more as a float64), and the timeoutMs of a CALL luanet sends is a CBOR
 * integer however long the deadline. Live processes, raw sockets, frames written by hand.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, describe, test } from "node:test";
import { Decoder } from "cbor-x";
import { FrameDecoder } from "../runtime/wire/frame.ts";
import { startNameService, startService, tool, type NameService } from "./helpers/cluster.ts";
import { closesWithin, dial, frame, helloFrame, listenPort, rawCbor } from "./helpers/raw.ts";

const cbor = new Decoder({ useRecords: false });
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** The frames arriving on `socket`, one at a time: `next(ms)` resolves with the next body, and
 * rejects when none comes within `ms` or the socket closes first. */
function reader(socket: Socket): (ms?: number) => Promise<Buffer> {
  const bodies: Buffer[] = [];
  const waiting: { resolve(body: Buffer): void; reject(error: Error): void }[] = [];
  let closed = false;
  const decoder = new FrameDecoder(16 * 1024 * 1024);
  socket.on("data", (chunk: Buffer) => decoder.push(chunk, (body) => {
    const copy = Buffer.from(body);
    const wake = waiting.shift();
    if (wake) wake.resolve(copy);
    else bodies.push(copy);
  }));
  socket.on("close", () => {
    closed = true;
    for (const wait of waiting.splice(0)) wait.reject(new Error("the connection closed"));
  });
  return (ms = 5000) => {
    const ready = bodies.shift();
    if (ready) return Promise.resolve(ready);
    if (closed) return Promise.reject(new Error("the connection closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within ${ms} ms`)), ms);
      waiting.push({
        resolve: (body) => {
          clearTimeout(timer);
          resolve(body);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  };
}

/** A CALL whose id is written exactly as `idHex` (CBOR bytes), as a foreign encoder may. */
const callWithId = (idHex: string, func: string, args: unknown) =>
  frame(Buffer.concat([Buffer.from(`8402${idHex}`, "hex"), rawCbor.encode(func), rawCbor.encode(args)]));

describe("envelope integers", { concurrency: true }, () => {
  let ns: NameService;
  let port: number;
  test.before(async () => {
    ns = await startNameService();
    const svc = await startService(ns, `
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.StartLocalService("Ids", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    port = listenPort(svc.stderr, "Ids");
  });

  test("a call id of any size up to 2^53 - 1 is echoed as the CBOR integer it was sent as, in REPLY and ERROR", async () => {
    const socket = await dial(port);
    const next = reader(socket);
    socket.write(helloFrame());
    // id as sent -> id as the answer must carry it (a shorter width is the same integer)
    const ids: [string, string][] = [
      ["1affffffff", "1affffffff"],                 // 2^32 - 1
      ["1b0000000100000000", "1b0000000100000000"], // 2^32
      ["1b0000000123456789", "1b0000000123456789"], // 2^32 + ...
      ["1b001fffffffffffff", "1b001fffffffffffff"], // 2^53 - 1
      ["1b0000000000000007", "07"],                 // 7 in the 8-byte form
    ];
    for (const [sent, echoed] of ids) {
      socket.write(callWithId(sent, "Plus", { a: 1, b: 2 }));
      assert.equal(hex(await next()), `8303${echoed}03`, `REPLY to the id ${sent}`);
      socket.write(callWithId(sent, "Nope", null));
      const error = await next();
      assert.equal(hex(error.subarray(0, 2 + echoed.length / 2)), `8504${echoed}`, `ERROR to the id ${sent}`);
      assert.equal((cbor.decode(error) as unknown[])[2], "no_such_function");
    }
    socket.destroy();
  });

  test("a float id with a whole value is answered with the integer; an id of 2^53 closes the connection", async () => {
    const socket = await dial(port);
    socket.on("error", () => {});
    const next = reader(socket);
    socket.write(helloFrame());
    socket.write(callWithId("fb41f0000000000000", "Plus", { a: 1, b: 2 })); // 2^32 as a float64
    assert.equal(hex(await next()), "83031b000000010000000003");
    socket.write(callWithId("1b0020000000000000", "Plus", { a: 1, b: 2 })); // 2^53
    assert.equal(await closesWithin(socket, 5000), true, "an id past 2^53 - 1 makes the CALL malformed");
  });
});

describe("timeoutMs", () => {
  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  test("a CALL sent with a deadline of 2^33 ms carries timeoutMs as a CBOR integer, not a float64", async () => {
    // One raw listener plays both the name service (GetInfo points at itself) and the service.
    const calls: Buffer[] = [];
    const server = createServer((socket) => {
      const next = reader(socket);
      socket.on("error", () => {});
      void (async () => {
        assert.equal((cbor.decode(await next()) as unknown[])[0], 0, "HELLO first");
        for (;;) {
          const body = await next(15_000);
          const call = cbor.decode(body) as unknown[];
          if (call[0] !== 2) continue; // PING
          calls.push(body);
          const result = call[2] === "GetInfo"
            ? { name: "Raw", type: "stream", addr: { family: "inet", ip: "127.0.0.1", port: (server.address() as { port: number }).port }, pid: process.pid, host: "raw", funcs: ["F"], started: Date.now() }
            : "ok";
          socket.write(frame(rawCbor.encode([3, call[1], result])));
        }
      })().catch(() => socket.destroy());
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const exit = await tool(`127.0.0.1:${port}`, ["call", "Raw", "F", "null", "--timeout", String(2 ** 33)]);
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stdout, /"ok"/);
    const call = calls.find((body) => (cbor.decode(body) as unknown[])[2] === "F");
    assert.ok(call !== undefined, "the CALL of F arrived");
    const timeoutMs = (cbor.decode(call) as unknown[])[4];
    assert.equal(typeof timeoutMs, "bigint", "an 8-byte CBOR integer decodes as a BigInt");
    assert.ok((timeoutMs as bigint) > 2n ** 33n - 10_000n && (timeoutMs as bigint) <= 2n ** 33n, `timeoutMs ${timeoutMs}`);
    assert.equal(call[call.length - 9], 0x1b, `timeoutMs written as ${hex(call.subarray(-9))}`);
  });
});
