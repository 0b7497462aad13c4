import { test, describe } from "node:test";
import assert from "node:assert/strict";
import table2strDefault, { table2str } from "../stdlib/table2str.ts";

describe("exports", () => {
  test("default and named export are the same function", () => {
    assert.equal(table2strDefault, table2str);
  });
});

describe("primitives", () => {
  test("strings are double-quoted with JSON escaping", () => {
    assert.equal(table2str("hi"), '"hi"');
    assert.equal(table2str('say "hi"\n\t\\'), '"say \\"hi\\"\\n\\t\\\\"');
    assert.equal(table2str(""), '""');
  });

  test("numbers, including NaN, infinities and -0", () => {
    assert.equal(table2str(42), "42");
    assert.equal(table2str(-1.5), "-1.5");
    assert.equal(table2str(NaN), "NaN");
    assert.equal(table2str(Infinity), "Infinity");
    assert.equal(table2str(-Infinity), "-Infinity");
    assert.equal(table2str(-0), "-0");
    assert.equal(table2str(0), "0");
  });

  test("bigint, undefined, null, booleans, symbols", () => {
    assert.equal(table2str(12n), "12n");
    assert.equal(table2str(-12n), "-12n");
    assert.equal(table2str(undefined), "undefined");
    assert.equal(table2str(null), "null");
    assert.equal(table2str(true), "true");
    assert.equal(table2str(false), "false");
    assert.equal(table2str(Symbol("desc")), "Symbol(desc)");
    assert.equal(table2str(Symbol()), "Symbol()");
  });
});

describe("objects and arrays", () => {
  test("one line JS-literal style", () => {
    assert.equal(table2str({ b: 1, a: [1, "x"] }), '{ a: [ 1, "x" ], b: 1 }');
    assert.equal(table2str({ a: 1, b: [1, 2, "x"], "needs quotes": true }), '{ a: 1, b: [ 1, 2, "x" ], "needs quotes": true }');
  });

  test("empty containers", () => {
    assert.equal(table2str({}), "{}");
    assert.equal(table2str([]), "[]");
    assert.equal(table2str({ a: {}, b: [] }), "{ a: {}, b: [] }");
  });

  test("keys print sorted, so insertion order does not matter", () => {
    const one = { zeta: 1, alpha: { y: 2, x: 1 }, mid: 3 };
    const two = { mid: 3, alpha: { x: 1, y: 2 }, zeta: 1 };
    assert.equal(table2str(one), "{ alpha: { x: 1, y: 2 }, mid: 3, zeta: 1 }");
    assert.equal(table2str(two), table2str(one));
  });

  test("identifier keys are bare, other keys quoted", () => {
    assert.equal(table2str({ _a$1: 1, "1a": 2, "a-b": 3, "": 4, "é": 5 }), '{ "": 4, "1a": 2, _a$1: 1, "a-b": 3, "é": 5 }');
  });

  test("enumerable own symbol keys follow the string keys; non-enumerable ones are left out", () => {
    const s = Symbol("s");
    const hidden = Symbol("hidden");
    const obj = { [s]: 1, b: 2 };
    Object.defineProperty(obj, hidden, { value: 3, enumerable: false });
    assert.equal(table2str(obj), "{ b: 2, [Symbol(s)]: 1 }");
  });

  test("non-enumerable and inherited properties are left out", () => {
    const obj = Object.create({ inherited: 1 });
    Object.defineProperty(obj, "hidden", { value: 2, enumerable: false });
    obj.shown = 3;
    assert.equal(table2str(obj), "{ shown: 3 }");
  });

  test("sparse array holes print as <empty>", () => {
    assert.equal(table2str([1, , 3]), "[ 1, <empty>, 3 ]");
    assert.equal(table2str(new Array(2)), "[ <2 empty> ]");
    assert.equal(table2str([1, , , , 5, , 7]), "[ 1, <3 empty>, 5, <empty>, 7 ]");
    assert.equal(table2str([undefined]), "[ undefined ]");
  });

  test("class instances are prefixed by their constructor name", () => {
    class Point {
      constructor(
        public y: number,
        public x: number,
      ) {}
    }
    class Empty {}
    class List extends Array<number> {}
    assert.equal(table2str(new Point(2, 1)), "Point { x: 1, y: 2 }");
    assert.equal(table2str(new Empty()), "Empty {}");
    assert.equal(table2str(List.from([1, 2])), "List [ 1, 2 ]");
  });

  test("null-prototype objects are marked", () => {
    const obj = Object.assign(Object.create(null), { b: 2, a: 1 });
    assert.equal(table2str(obj), "[Object: null prototype] { a: 1, b: 2 }");
    assert.equal(table2str(Object.create(null)), "[Object: null prototype] {}");
  });
});

describe("special objects", () => {
  test("functions", () => {
    function named() {}
    assert.equal(table2str(named), "[Function named]");
    assert.equal(table2str({ f: () => 1 }), "{ f: [Function f] }");
    assert.equal(table2str([() => 1]), "[ [Function (anonymous)] ]");
    assert.equal(table2str(class Point {}), "[Function Point]");
  });

  test("dates", () => {
    assert.equal(table2str(new Date("2020-01-01T00:00:00.000Z")), 'Date("2020-01-01T00:00:00.000Z")');
    assert.equal(table2str(new Date(NaN)), "Date(Invalid)");
  });

  test("regular expressions", () => {
    assert.equal(table2str(/ab+c/gi), "/ab+c/gi");
    assert.equal(table2str({ re: /x\/y/ }), "{ re: /x\\/y/ }");
  });

  test("errors print their name and message, then own enumerable properties", () => {
    assert.equal(table2str(new Error("boom")), 'Error("boom")');
    assert.equal(table2str(new TypeError("bad")), 'TypeError("bad")');
    assert.equal(table2str(Object.assign(new RangeError("far"), { code: "E_FAR", at: 3 })), 'RangeError("far") { at: 3, code: "E_FAR" }');
    class HaltedError extends Error {
      override name = "HaltedError";
    }
    assert.equal(table2str(new HaltedError("stop")), 'HaltedError("stop") { name: "HaltedError" }');
  });

  test("maps print entries in insertion order", () => {
    const map = new Map<unknown, unknown>([
      ["z", 1],
      [{ k: 1 }, [2]],
      [3, new Map()],
    ]);
    assert.equal(table2str(map), 'Map { "z" => 1, { k: 1 } => [ 2 ], 3 => Map {} }');
  });

  test("sets print values in insertion order", () => {
    assert.equal(table2str(new Set([2, 1, "a"])), 'Set { 2, 1, "a" }');
    assert.equal(table2str(new Set()), "Set {}");
  });

  test("typed arrays and Buffers print their elements under their type name", () => {
    assert.equal(table2str(new Uint8Array([1, 2, 3])), "Uint8Array [ 1, 2, 3 ]");
    assert.equal(table2str(new Float64Array([0.5, -0, NaN])), "Float64Array [ 0.5, -0, NaN ]");
    assert.equal(table2str(new BigInt64Array([1n, -2n])), "BigInt64Array [ 1n, -2n ]");
    assert.equal(table2str(Buffer.from("hi")), "Buffer [ 104, 105 ]");
    assert.equal(table2str(new Uint8Array(0)), "Uint8Array []");
  });

  test("typed arrays stop after 64 elements", () => {
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);
    const first64 = Array.from({ length: 64 }, (_, i) => i).join(", ");
    assert.equal(table2str(bytes), `Uint8Array [ ${first64}, ... 36 more ]`);
    assert.equal(table2str(new Uint8Array(64)), `Uint8Array [ ${Array(64).fill(0).join(", ")} ]`);
  });
});

describe("indent option", () => {
  test("prints one item per line, indented per level", () => {
    const value = { b: [1, { c: new Map([["k", new Set([1])]]) }], a: {}, d: [] };
    const expected = [
      "{",
      "  a: {},",
      "  b: [",
      "    1,",
      "    {",
      "      c: Map {",
      '        "k" => Set {',
      "          1",
      "        }",
      "      }",
      "    }",
      "  ],",
      "  d: []",
      "}",
    ].join("\n");
    assert.equal(table2str(value, { indent: 2 }), expected);
  });

  test("uses the given width and leaves scalars alone", () => {
    assert.equal(table2str({ a: [1] }, { indent: 4 }), "{\n    a: [\n        1\n    ]\n}");
    assert.equal(table2str("x", { indent: 2 }), '"x"');
    assert.equal(table2str(new Error("e"), { indent: 2 }), 'Error("e")');
  });

  test("rejects a negative or fractional indent", () => {
    assert.throws(() => table2str({}, { indent: -1 }), { name: "TypeError", message: /options\.indent must be an integer >= 0, got -1/ });
    assert.throws(() => table2str({}, { indent: 1.5 }), { name: "TypeError", message: /options\.indent must be/ });
  });
});

describe("cycles and shared references", () => {
  test("an object containing itself points at the root", () => {
    const obj: Record<string, unknown> = { a: 1 };
    obj.self = obj;
    assert.equal(table2str(obj), "{ a: 1, self: [Circular ~] }");
    const arr: unknown[] = [1];
    arr.push(arr);
    assert.equal(table2str(arr), "[ 1, [Circular ~] ]");
  });

  test("the path leads from the root to the first occurrence", () => {
    const inner: Record<string, unknown> = { x: 1 };
    inner.loop = inner;
    assert.equal(table2str({ a: { b: inner } }), "{ a: { b: { loop: [Circular ~.a.b], x: 1 } } }");

    const item: Record<string, unknown> = {};
    item.back = { to: item };
    assert.equal(table2str({ list: [0, 1, 2, item] }), "{ list: [ 0, 1, 2, { back: { to: [Circular ~.list[3]] } } ] }");
  });

  test("paths quote keys that are not identifiers and show symbol keys", () => {
    const s = Symbol("s");
    const inner: Record<string | symbol, unknown> = {};
    inner[s] = inner;
    const outer = { "a b": inner };
    assert.equal(table2str(outer), '{ "a b": { [Symbol(s)]: [Circular ~["a b"]] } }');
  });

  test("paths through maps and sets", () => {
    const map = new Map<unknown, unknown>();
    map.set("me", map);
    assert.equal(table2str({ m: map }), '{ m: Map { "me" => [Circular ~.m] } }');

    const value: Record<string, unknown> = {};
    const key = { v: value };
    value.m = new Map([[key, key]]);
    assert.equal(table2str(value), "{ m: Map { { v: [Circular ~] } => { v: [Circular ~] } } }");

    const loop: Record<string, unknown> = {};
    loop.self = loop;
    const set = new Set<unknown>([0, loop]);
    assert.equal(table2str({ set }), "{ set: Set { 0, { self: [Circular ~.set.values()[1]] } } }");
    const mapKey: Record<string, unknown> = {};
    mapKey.self = mapKey;
    assert.equal(table2str(new Map([[mapKey, 1]])), "Map { { self: [Circular ~.keys()[0]] } => 1 }");
    const mapValue: Record<string, unknown> = {};
    mapValue.self = mapValue;
    assert.equal(table2str(new Map([["k", mapValue]])), 'Map { "k" => { self: [Circular ~.get("k")] } }');
  });

  test("an error's own properties can refer back to it", () => {
    const err = Object.assign(new Error("loop"), { self: undefined as unknown });
    err.self = err;
    assert.equal(table2str(err), 'Error("loop") { self: [Circular ~] }');
  });

  test("the same object in two branches prints in full both times", () => {
    const shared = { x: 1 };
    assert.equal(table2str({ a: shared, b: [shared, shared] }), "{ a: { x: 1 }, b: [ { x: 1 }, { x: 1 } ] }");
    const map = new Map([[shared, shared]]);
    assert.equal(table2str(map), "Map { { x: 1 } => { x: 1 } }");
  });
});

describe("depth limit", () => {
  function nest(levels: number): Record<string, unknown> {
    let value: Record<string, unknown> = {};
    for (let i = 0; i < levels; i++) value = { d: value };
    return value;
  }

  test("maxDepth cuts containers nested deeper than it", () => {
    const value = { a: { b: { c: 1 } }, n: 1, f: [1] };
    assert.equal(table2str(value, { maxDepth: 0 }), "{ a: [...], f: [...], n: 1 }");
    assert.equal(table2str(value, { maxDepth: 1 }), "{ a: { b: [...] }, f: [ 1 ], n: 1 }");
    assert.equal(table2str(value, { maxDepth: 2 }), "{ a: { b: { c: 1 } }, f: [ 1 ], n: 1 }");
  });

  test("a 100000-deep object prints 1000 levels by default without overflowing the stack", () => {
    const out = table2str(nest(100_000));
    assert.equal(out, "{ d: ".repeat(1001) + "[...]" + " }".repeat(1001));
  });

  test("a large maxDepth does not overflow the stack either", () => {
    const out = table2str(nest(100_000), { maxDepth: 200_000, maxItems: 200_000 });
    assert.equal(out, "{ d: ".repeat(100_000) + "{}" + " }".repeat(100_000));
  });

  test("deep arrays and maps are cut the same way", () => {
    let arr: unknown[] = [];
    for (let i = 0; i < 5000; i++) arr = [arr];
    assert.equal(table2str(arr), "[ ".repeat(1001) + "[...]" + " ]".repeat(1001));
    assert.equal(table2str(new Map([[1, new Map([[2, {}]])]]), { maxDepth: 1 }), "Map { 1 => Map { 2 => [...] } }");
  });

  test("rejects a negative maxDepth", () => {
    assert.throws(() => table2str({}, { maxDepth: -1 }), { name: "TypeError", message: /options\.maxDepth must be an integer >= 0, got -1/ });
  });
});

describe("accessors and hostile objects", () => {
  test("getters and setters are not invoked", () => {
    let calls = 0;
    const obj = {
      get boom(): never {
        calls++;
        throw new Error("getter invoked");
      },
      set onlySet(_: unknown) {
        calls++;
      },
      get both() {
        calls++;
        return 1;
      },
      set both(_: unknown) {
        calls++;
      },
      plain: 1,
    };
    assert.equal(table2str(obj), "{ boom: [Getter], both: [Getter/Setter], onlySet: [Setter], plain: 1 }");
    assert.equal(calls, 0);
  });

  test("array index accessors are not invoked", () => {
    const arr = [1, 2];
    Object.defineProperty(arr, 1, {
      get() {
        throw new Error("getter invoked");
      },
    });
    assert.equal(table2str(arr), "[ 1, [Getter] ]");
  });

  test("a proxy whose traps throw prints as [Uninspectable]", () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("no keys");
        },
        getPrototypeOf() {
          throw new Error("no prototype");
        },
      },
    );
    assert.equal(table2str(hostile), "[Uninspectable]");
    assert.equal(table2str({ a: 1, h: hostile, z: [hostile] }), "{ a: 1, h: [Uninspectable], z: [ [Uninspectable] ] }");
  });

  test("a revoked proxy prints as [Uninspectable]", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    assert.equal(table2str([proxy, 1]), "[ [Uninspectable], 1 ]");
  });

  test("a well-behaved proxy prints like its target", () => {
    assert.equal(table2str(new Proxy({ b: 2, a: 1 }, {})), "{ a: 1, b: 2 }");
  });

  test("an object after an uninspectable sibling can still be reported circular", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const obj: Record<string, unknown> = { a: proxy };
    obj.b = obj;
    assert.equal(table2str(obj), "{ a: [Uninspectable], b: [Circular ~] }");
  });
});

describe("hostile inputs give a bounded output, fast", () => {
  const bounded = (out: string, max = 1_000_000) => assert.ok(out.length <= max, `${out.length} characters`);

  test("a sparse array of length 2^32-1 summarises its holes", () => {
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    sparse[5] = "x";
    sparse[2 ** 32 - 2] = "last";
    assert.equal(table2str(sparse), '[ <5 empty>, "x", <4294967288 empty>, "last" ]');
  });

  test("a graph of shared references that would print 2^60 items stops at maxItems", () => {
    let node: object = {};
    for (let i = 0; i < 60; i++) node = { a: node, b: node };
    const out = table2str(node);
    bounded(out);
    assert.match(out, /\.\.\. \d+ more/);
    assert.ok((out.match(/a: |b: /g) ?? []).length <= 10_000);
    const small = table2str(node, { maxItems: 3 });
    assert.equal(small, "{ a: { a: { a: { ... 2 more }, ... 1 more }, ... 1 more }, ... 1 more }");
  });

  test("a Proxy whose length grows on every read is read once", () => {
    let reads = 0;
    const growing = new Proxy([1, 2, 3], { get: (t, k) => (k === "length" ? 3 + reads++ * 1000 : Reflect.get(t, k)) });
    assert.equal(table2str(growing), "[ 1, 2, 3 ]");
    assert.equal(reads, 1);
  });

  test("a Proxy that claims a huge length prints holes, not 2^53 items", () => {
    const liar = new Proxy([], { get: (t, k) => (k === "length" ? Number.MAX_SAFE_INTEGER : Reflect.get(t, k)) });
    assert.equal(table2str(liar), `[ <${Number.MAX_SAFE_INTEGER} empty> ]`);
    const nonsense = new Proxy([], { get: (t, k) => (k === "length" ? { valueOf: () => { throw new Error("no"); } } : Reflect.get(t, k)) });
    assert.equal(table2str(nonsense), "[Uninspectable]");
  });

  test("a huge string, a huge key and many items stay under maxLength", () => {
    const out = table2str({ s: "y".repeat(5_000_000) });
    bounded(out);
    assert.match(out, /… \d+ more characters/);
    const keyed = table2str({ ["k".repeat(1_000_000)]: 1 });
    assert.ok(keyed.length < 400, keyed);
    const many = table2str(Array.from({ length: 100_000 }, (_, i) => i), { maxLength: 1000 });
    bounded(many, 1000);
    assert.match(many, /\.\.\. \d+ more/);
  });

  test("a dense array past maxItems ends in ... N more", () => {
    assert.equal(table2str([1, 2, 3, 4, 5], { maxItems: 2 }), "[ 1, 2, ... 3 more ]");
    assert.equal(table2str(new Set([1, 2, 3]), { maxItems: 1 }), "Set { 1, ... 2 more }");
    assert.equal(table2str(new Map([[1, 2], [3, 4]]), { maxItems: 1 }), "Map { 1 => 2, ... 1 more }");
  });
});
