/**
 * The frame decoder and the envelope parser under arbitrary input (property-based, fast-check):
 * any chunking of valid frames gives back exactly those frames; arbitrary bytes give frames or
 * a FrameTooLargeError, never another error; arbitrary bodies are valid envelopes or a
 * ProtocolError, and never touch Object.prototype.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { encode, decode, ProtocolError } from "../runtime/wire/envelope.ts";
import { FrameDecoder, FrameTooLargeError } from "../runtime/wire/frame.ts";

function framed(bodies: Uint8Array[]): Buffer {
  return Buffer.concat(bodies.flatMap((b) => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(b.length);
    return [header, Buffer.from(b)];
  }));
}

/** Split `bytes` at the given cut points (each taken modulo the length). */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of at) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  out.push(bytes.subarray(from));
  return out;
}

test("any chunking of valid frames decodes to exactly those frames, in order", () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
    fc.array(fc.nat(), { maxLength: 30 }),
    (bodies, cuts) => {
      const decoder = new FrameDecoder(1024);
      const got: Buffer[] = [];
      for (const chunk of chunks(framed(bodies), cuts)) decoder.push(chunk, (body) => got.push(Buffer.from(body)));
      assert.deepEqual(got.map((b) => b.toString("hex")), bodies.map((b) => Buffer.from(b).toString("hex")));
    },
  ), { numRuns: 500 });
});

test("feeding one byte at a time gives the same frames", () => {
  const bodies = [Buffer.from("a"), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from("last")];
  const decoder = new FrameDecoder(100_000);
  const got: string[] = [];
  for (const byte of framed(bodies)) decoder.push(Buffer.from([byte]), (body) => got.push(Buffer.from(body).toString("hex")));
  assert.deepEqual(got, bodies.map((b) => b.toString("hex")));
});

test("arbitrary bytes give frames or FrameTooLargeError, and a length over the maximum is refused before its body", () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (input) => {
    const decoder = new FrameDecoder(256);
    try {
      for (const chunk of input) decoder.push(Buffer.from(chunk), (body) => assert.ok(body.length <= 256));
    } catch (error) {
      assert.ok(error instanceof FrameTooLargeError, String(error));
    }
  }), { numRuns: 1000 });
  const decoder = new FrameDecoder(16 * 1024 * 1024);
  assert.throws(() => decoder.push(Buffer.from("ffffffff", "hex"), () => {}), (e: unknown) => e instanceof FrameTooLargeError && e.size === 0xffffffff);
});

test("arbitrary bodies are valid envelopes or a ProtocolError, and never pollute Object.prototype", () => {
  const hostile = [
    "9b00000001000000000102", // an array of 2^32 items declared, none sent
    "bb0000000080000000", // a map of 2^31 entries declared
    "5b0000000100000000", // 4 GiB of bytes declared
    Buffer.concat([Buffer.alloc(100_000, 0x81), Buffer.from([0x01])]).toString("hex"), // nested 100,000 deep
    "ff", "1f", "9f", "c6", "f8", // stray break, reserved forms
  ].map((h) => Buffer.from(h, "hex"));
  const objectKeys = (o: object) => JSON.stringify(Object.getOwnPropertyNames(o).sort());
  const before = objectKeys(Object.prototype);
  const check = (body: Uint8Array) => {
    try {
      const envelope = decode(body);
      assert.ok(Array.isArray(envelope));
    } catch (error) {
      assert.ok(error instanceof ProtocolError, String(error));
    }
  };
  for (const body of hostile) check(body);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 2000 });
  // Values built from any JSON, __proto__ and constructor keys included, survive a round trip as data.
  fc.assert(fc.property(fc.json(), fc.constantFrom("__proto__", "constructor", "prototype"), (json, key) => {
    const args = JSON.parse(`{${JSON.stringify(key)}: {"polluted": true}, "v": ${json}}`) as object;
    check(encode([2, 1, "F", args]));
  }), { numRuns: 300 });
  assert.equal(objectKeys(Object.prototype), before);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
});

// Found by the property above (about 1 run in 50; seed 1093609766): an envelope whose type is an
// 8-byte integer decodes as a BigInt, and the "malformed envelope" message's JSON.stringify of it
// threw a TypeError instead of a ProtocolError.
test("an envelope whose type is an 8-byte integer is a ProtocolError", () => {
  for (const hex of ["811b0000000000000000", "821b00000000000000020a"]) {
    assert.throws(() => decode(Buffer.from(hex, "hex")), (e: unknown) => e instanceof ProtocolError, hex);
  }
});
