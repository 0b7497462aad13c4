/**
 * The CBOR subset peers may send (runtime/wire/cbor-subset.ts): everything luanet's encoder
 * writes passes and decodes to the same value; the extensions an attacker could reach (value
 * sharing, generic objects, records, packed values) are refused before cbor-x sees them; the
 * check never throws and never passes what cbor-x cannot decode.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Decoder, Encoder } from "cbor-x";
import fc from "fast-check";
import { LuanetError } from "../runtime/errors.ts";
import { checkSubset, cost, MAX_COST, MAX_DEPTH } from "../runtime/wire/cbor-subset.ts";
import { decode, encode, ProtocolError, Type } from "../runtime/wire/envelope.ts";

const ours = new Encoder({ useRecords: false, tagUint8Array: false });
const plain = new Decoder({ useRecords: false });
const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ""), "hex");

/** Values of every kind luanet's encoder writes. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined),
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc.date({ noInvalidDate: true }),
    fc.float32Array({ maxLength: 4 }), fc.int16Array({ maxLength: 4 }),
  ),
  node: fc.oneof({ depthSize: "small" },
    tie("leaf"),
    fc.array(tie("node"), { maxLength: 5 }),
    fc.dictionary(fc.string(), tie("node"), { maxKeys: 5 }),
    fc.array(fc.integer(), { maxLength: 5 }).map((a) => new Set(a)),
    fc.array(fc.tuple(fc.string(), tie("node")), { maxLength: 4 }).map((e) => new Map(e)),
  ),
})).node;

test("every value luanet's encoder writes is inside the subset, and decodes to itself", () => {
  fc.assert(fc.property(value, (v) => {
    const body = ours.encode([Type.MSG, v]);
    assert.equal(checkSubset(body), null);
    assert.deepEqual(decode(body), plain.decode(body));
  }), { numRuns: 2000 });
});

test("the check never throws, and what it passes cbor-x decodes", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
    if (checkSubset(bytes) === null) plain.decode(bytes); // throws if the check was too lenient
  }), { numRuns: 20_000 });
});

// Found by the property above (4 runs in 21, seed 652525706 among them): the check passed a map
// key that decodes to an object (a byte string, an array, a map, a tagged date), which cbor-x
// cannot make a property name.
test("the check refuses map keys cbor-x cannot make property names, and a key with no value", () => {
  for (const h of ["a2 00 00 40 3a 00 00 00 00", "82 a1 40 00 02", "a1 44 00 00 00 00 00", "a1 a0 00", "a1 80 00", "a1 c1 1a 51 4b 67 b0 00"]) {
    assert.throws(() => plain.decode(hex(h)), h); // what cbor-x does with them
    assert.match(checkSubset(hex(h)) ?? "passed", /map key that is not an integer or a text string/, h);
  }
  assert.match(checkSubset(hex("bf 61 61 ff")) ?? "passed", /ends after a key/);
  for (const h of ["a1 20 00", "a1 61 61 a1 01 02", "bf 01 02 61 62 9f ff ff"]) assert.equal(checkSubset(hex(h)), null, h); // integer and text keys, nested
});

test("other encoders' forms are accepted and decode: shortest lengths, indefinite arrays and maps, half floats", () => {
  for (const h of [
    "a2 61 61 01 61 62 02",            // {a: 1, b: 2} with a2 (cbor-x writes b9 00 02)
    "9f 01 02 ff",                      // [_ 1, 2]
    "bf 61 61 01 ff",                   // {_ a: 1}
    "f9 3c 00",                         // 1.0 as a half float
    "c0 74 32 30 31 33 2d 30 33 2d 32 31 54 32 30 3a 30 34 3a 30 30 5a", // tag 0 date string
    "c1 1a 51 4b 67 b0",                // tag 1 epoch date
    "1b 00 00 00 01 00 00 00 00",       // an 8-byte integer
  ]) {
    assert.equal(checkSubset(hex(h)), null, h);
    plain.decode(hex(h));
  }
});

test("shared references, generic objects, records and other tags are refused before decoding", () => {
  const refused: [string, string, RegExp][] = [
    ["value sharing (tags 28/29)", "82 d8 1c 81 01 d8 1d 00", /tag 28/],
    ["a generic-object RegExp (tag 27)", "d8 1b 82 66 52 65 67 45 78 70 62 61 2b", /tag 27/],
    ["a generic-object Error (tag 27)", "d8 1b 82 65 45 72 72 6f 72 61 78", /tag 27/],
    ["a cbor-x inline record (tag 105)", "d8 69 83 01 81 61 61 02", /tag 105/],
    ["a cbor-x packed table (tag 51)", "d8 33 84 80 80 80 01", /tag 51/],
    ["a string reference (tag 25)", "d8 19 00", /tag 25/],
    ["self-described CBOR (tag 55799)", "d9 d9 f7 01", /tag 55799/],
    ["an epoch date over a string", "c1 61 61", /wrong kind/],
    // Found by the property test below: cbor-x reads the 8-byte integer as a BigInt and its
    // Date conversion throws a TypeError instead of a decode error.
    ["an epoch date over an 8-byte integer", "c1 3b 00 00 00 00 00 00 00 00", /8-byte/],
    ["a Set over a map", "d9 01 02 a0", /wrong kind/],
    ["a tag over a tag", "c1 c1 01", /wrong kind/],
    ["a 300-byte bignum", `c2 59 01 2c ${"00".repeat(300)}`, /bignum/],
    ["a simple value 16", "f0", /simple value/],
    ["a one-byte simple value", "f8 20", /simple value/],
    ["a reserved initial byte", "1c", /reserved/],
    ["a break outside an indefinite item", "ff", /break/],
    ["a break right after a tag", "9f c1 ff", /break/],
    ["an indefinite-length text string (cbor-x cannot decode one)", "7f 62 68 65 ff", /unsupported/],
    ["an indefinite-length byte string", "5f 41 01 ff", /unsupported/],
    ["trailing bytes", "01 02", /after the item/],
    ["an array of 2^32 items declared, not sent", "9b 00 00 00 01 00 00 00 00", /more items/],
    ["a string longer than the frame", "78 ff 61", /longer/],
    ["an empty body", "", /ends/],
    ["a truncated map", "a2 61 61 01", /ends/],
  ];
  for (const [what, h, why] of refused) {
    const reason = checkSubset(hex(h));
    assert.ok(reason !== null && why.test(reason), `${what}: ${reason}`);
    assert.throws(() => decode(hex(h)), (e: Error) => e instanceof ProtocolError && /subset/.test(e.message), what);
  }
});

test("a body that would decode into far more memory than its size is refused: each empty map is an object", () => {
  const maps = (n: number) => Buffer.concat([hex("9a"), Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]), Buffer.alloc(n, 0xa0)]);
  assert.equal(checkSubset(maps(100_000)), null);
  assert.ok(cost > 100_000 * 64, `the estimate (${cost}) counts an object per map`);
  assert.match(checkSubset(maps(2_000_000))!, /MiB once decoded/);
  assert.ok(2_000_000 * 65 > MAX_COST);
});

test(`nesting is bounded at ${MAX_DEPTH} without recursion`, () => {
  assert.equal(checkSubset(Buffer.concat([Buffer.alloc(MAX_DEPTH, 0x81), hex("01")])), null);
  assert.match(checkSubset(Buffer.concat([Buffer.alloc(MAX_DEPTH + 1, 0x81), hex("01")]))!, /deeper/);
  assert.match(checkSubset(Buffer.concat([Buffer.alloc(1_000_000, 0x9f)]))!, /deeper/);
});

test("a value-sharing bomb is refused unread", () => {
  // Each level holds the level below twice, once by reference (tag 29 names a tag-28 item by
  // its number): 24 levels in under 300 bytes re-encode to 2^24 copies.
  let bomb = "d8 1c 81 00";
  for (let level = 1; level < 24; level++) bomb = `d8 1c 82 ${bomb} d8 1d ${(level - 1).toString(16).padStart(2, "0")}`;
  const body = Buffer.concat([hex("84 02 1a 00 00 00 01 68"), Buffer.from("Register"), hex(bomb)]); // CALL Register(bomb)
  assert.ok(body.length < 300);
  assert.throws(() => decode(body), (e: Error) => e instanceof ProtocolError && /tag 28/.test(e.message));
});

test("a value holding an Error or RegExp is a bad_value at the sender; the same bytes as data are fine", () => {
  for (const v of [new Error("x"), { nested: [/a+/] }]) {
    assert.throws(() => encode([Type.MSG, v]), (e: Error) => e instanceof LuanetError && e.code === "bad_value" && /Error or RegExp/.test(e.message));
  }
  const data = Buffer.from([0xd8, 0x1b, 0xd8, 0x1b]);
  assert.deepEqual(decode(encode([Type.MSG, { data }])), [Type.MSG, { data }]);
});
