/**
 * The fast road of copyPayload (envelope.ts), for two services of one process: a value that is a
 * small tree of plain objects and arrays with scalar leaves is copied node by node instead of
 * being encoded and decoded. It gives exactly what the CBOR round trip gives for such a tree
 * (tests/plain-copy.test.ts compares the two on random trees):
 *
 *   - a plain object (its prototype Object.prototype) is a map of its own enumerable string keys,
 *     in their order, decoded into a plain object;
 *   - an array (its prototype Array.prototype) is its elements, in order;
 *   - null, booleans, well-formed strings and numbers cross unchanged, but -0, which the encoder
 *     writes as the integer 0.
 *
 * Anything else (undefined, a hole, a Date, a Map, a typed array, a class instance, a string
 * with a lone surrogate, a key the decoder treats specially, more than MAX_NODES nodes or
 * MAX_DEPTH levels) gives NOT_PLAIN: the caller takes the encoder, which knows every case.
 * @internal
 */
import { CONTAINER_COST, STRING_COST } from "./cbor-subset.js";

export const NOT_PLAIN: unique symbol = Symbol("not a plain tree");

/** No lone surrogate (which the encoder would write as U+FFFD). Node 20 has it; its types do not yet. */
const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

const MAX_NODES = 1024;
const MAX_DEPTH = 32;
/** Keys that plain-object encoding or decoding may treat specially: left to the encoder. */
const SPECIAL_KEYS = new Set(["__proto__", "constructor", "hasOwnProperty", "toJSON"]);

/** What a copy counts: its nodes, and upper bounds of its encoded size and its decoded cost. */
export class CopyBudget {
  nodes = 0;
  /** At least the encoded size (each item at its widest). */
  bytes = 0;
  /** The decoded cost as cbor-subset.ts estimates it, from `bytes`. */
  cost = 0;
  reset(): void {
    this.nodes = this.bytes = this.cost = 0;
  }
}

/** A copy of `value`, or NOT_PLAIN; `budget` is reset and counts it. */
export function plainCopy(value: unknown, budget: CopyBudget): unknown {
  budget.reset();
  const copy = copyNode(value, budget, 0);
  budget.cost += budget.bytes;
  return copy;
}

function copyNode(value: unknown, budget: CopyBudget, depth: number): unknown {
  if (++budget.nodes > MAX_NODES) return NOT_PLAIN;
  switch (typeof value) {
    case "number":
      budget.bytes += 9;
      return value === 0 ? 0 : value; // -0 crosses as 0
    case "boolean":
      budget.bytes += 1;
      return value;
    case "string":
      if (!wellFormed(value)) return NOT_PLAIN;
      budget.bytes += 9 + 3 * value.length;
      budget.cost += STRING_COST;
      return value;
    case "object":
      break;
    default:
      return NOT_PLAIN;
  }
  if (value === null) {
    budget.bytes += 1;
    return null;
  }
  if (depth >= MAX_DEPTH) return NOT_PLAIN;
  budget.bytes += 9;
  budget.cost += CONTAINER_COST;
  const proto = Object.getPrototypeOf(value);
  if (proto === Array.prototype && Array.isArray(value)) {
    const n = value.length;
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      if (!(i in value)) return NOT_PLAIN; // a hole: the encoder writes undefined
      const item = copyNode(value[i], budget, depth + 1);
      if (item === NOT_PLAIN) return NOT_PLAIN;
      out[i] = item;
    }
    return out;
  }
  if (proto !== Object.prototype) return NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return NOT_PLAIN; // an inherited enumerable key: unusual, leave it to the encoder
    if (SPECIAL_KEYS.has(key) || !wellFormed(key)) return NOT_PLAIN;
    budget.bytes += 9 + 3 * key.length;
    budget.cost += STRING_COST;
    const item = copyNode((value as Record<string, unknown>)[key], budget, depth + 1);
    if (item === NOT_PLAIN) return NOT_PLAIN;
    out[key] = item;
  }
  return out;
}
