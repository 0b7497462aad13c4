/**
 * Places on a listener (runtime/transport/admission.ts) in-process: a newcomer displaces the
 * oldest unproven place, of its own source when that is full; proven places are never displaced;
 * and the books stay right when a displacement takes a source's last place.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Admission, type Place } from "../runtime/transport/admission.ts";

function admission(max: number, perSource: number) {
  const dropped: string[] = [];
  let displaced = 0;
  const books = new Admission(() => ({ max, perSource }), () => displaced++);
  const admit = (name: string, source: string): Place | null => books.admit(() => dropped.push(name), source);
  return { books, admit, dropped, displaced: () => displaced };
}

test("a newcomer whose source is full takes the place of that source's oldest unproven one; proven ones stay", () => {
  const { books, admit, dropped } = admission(100, 2);
  const a1 = admit("a1", "A")!;
  admit("a2", "A");
  books.prove(a1);
  assert.ok(admit("a3", "A"));
  assert.deepEqual(dropped, ["a2"]);
  assert.ok(admit("b1", "B"), "another source is not full");
  books.prove(admit("a4", "A")!); // displaces a3
  assert.equal(admit("a5", "A"), null, "every place of A is proven");
  assert.deepEqual(dropped, ["a2", "a3"]);
});

test("a displacement that takes a source's last place (per source, or over the listener) leaves the books right", () => {
  const { books, admit, dropped } = admission(2, 1);
  // Per source: A's only place goes to A's newcomer.
  admit("a1", "A");
  const a2 = admit("a2", "A")!;
  assert.deepEqual(dropped, ["a1"]);
  books.prove(a2);
  // Over the listener: B's only place is the oldest unproven one; B's newcomer takes it.
  admit("b1", "B");
  const b2 = admit("b2", "B")!;
  assert.deepEqual(dropped, ["a1", "b1"]);
  books.prove(b2);
  assert.equal(admit("c1", "C"), null, "both places are proven");
  books.leave(a2);
  books.leave(b2);
  books.leave(b2); // idempotent
  // Everything was given back: two places, from two sources, once more.
  const c = admit("c2", "C")!;
  const d = admit("d1", "D")!;
  assert.equal(admit("e1", "E") !== null, true, "E displaces c2");
  assert.deepEqual(dropped, ["a1", "b1", "c2"]);
  books.prove(d);
  assert.equal(c.gone, true);
});
