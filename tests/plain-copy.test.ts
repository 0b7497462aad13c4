/**
 * The fast road of copies between services of one process (runtime/wire/plain-copy.ts) gives what
 * the CBOR round trip gives, on random trees of plain objects, arrays and scalars; everything
 * outside that domain is left to the encoder.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Decoder, Encoder } from "cbor-x";
import { copyPayload } from "../runtime/wire/envelope.ts";
import { CopyBudget, NOT_PLAIN, plainCopy } from "../runtime/wire/plain-copy.ts";

// The envelope's own encoder and decoder settings (runtime/wire/envelope.ts).
const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false });
const roundTrip = (v: unknown): unknown => decoder.decode(encoder.encode(v));

/** A small deterministic PRNG, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
}

const numbers = [0, -0, 1, -1, 23, 24, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -(2 ** 53), 0.5, 0.1, 1e300, -1e-300, NaN, Infinity, -Infinity, 3.4028234663852886e38];
const strings = ["", "a", "Plus", "é", "日本語", "😀", "x".repeat(300), "1", "0", "-1", "a b", "\u0000", "\u2028"];

function tree(r: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const k = r();
  if (depth > 4 || k < 0.45) return pick<unknown>([...numbers, ...strings, null, true, false]);
  if (k < 0.7) return Array.from({ length: Math.floor(r() * 6) }, () => tree(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 6); i > 0; i--) o[pick([...strings, "k", "2", "10", "b"])] = tree(r, depth + 1);
  return o;
}

test("on 5,000 random plain trees the copy is what the CBOR round trip gives, and shares nothing", () => {
  const budget = new CopyBudget();
  for (let seed = 1; seed <= 5000; seed++) {
    const value = tree(rng(seed), 0);
    const copy = plainCopy(value, budget);
    assert.notEqual(copy, NOT_PLAIN, `seed ${seed}`);
    assert.deepStrictEqual(copy, roundTrip(value), `seed ${seed}: ${JSON.stringify(value)}`);
    assert.ok(budget.bytes >= encoder.encode(value).length, `seed ${seed}: the size bound is below the encoded size`);
    if (typeof value === "object" && value !== null) assert.notEqual(copy, value);
  }
});

test("anything outside plain trees is left to the encoder", () => {
  const budget = new CopyBudget();
  class Point { x = 1; }
  const inherited = Object.create({ inheritedKey: 1 }) as object;
  const deep: unknown[] = [];
  let at = deep;
  for (let i = 0; i < 40; i++) at.push((at = []));
  const cases: [string, unknown][] = [
    ["undefined", undefined], ["undefined inside", { a: undefined }], ["a hole", [1, , 3]], ["a Date", new Date(0)],
    ["a Map", new Map([[1, 2]])], ["a Set", new Set([1])], ["bytes", new Uint8Array([1])], ["a class instance", new Point()],
    ["a null-prototype object", Object.create(null)], ["an inherited enumerable key", inherited], ["a bigint", 1n],
    ["a function", () => 1], ["a symbol", Symbol("s")], ["a lone surrogate", "\ud800"], ["a lone surrogate key", { "\udc00": 1 }],
    ["__proto__ as a key", JSON.parse('{"__proto__": 1}')], ["toJSON as a key", { toJSON: 1 }], ["40 levels", deep],
    ["2,000 nodes", Array.from({ length: 2000 }, () => 1)],
  ];
  for (const [what, value] of cases) assert.equal(plainCopy(value, budget), NOT_PLAIN, what);
});

test("copyPayload: the fast road and the encoder agree at the edges, and the encoder's errors are kept", () => {
  for (const value of [new Date(5), new Uint8Array([1, 2]), [1, , 3], { a: undefined }, new Map([["k", 1]]), "\ud800", -0]) {
    assert.deepStrictEqual(copyPayload(value, 1 << 20, "v"), roundTrip(value));
  }
  assert.throws(() => copyPayload({ f: () => 1 }, 1 << 20, "the call"), { code: "bad_value" });
  assert.throws(() => copyPayload("x".repeat(5000), 4096, "the call"), { code: "too_large" });
  assert.throws(() => copyPayload({ s: "x".repeat(5000) }, 4096, "the call"), { code: "too_large" });
  assert.deepStrictEqual(copyPayload({ s: "x".repeat(1000) }, 4096, "the call"), { s: "x".repeat(1000) });
});
