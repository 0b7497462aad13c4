/**
 * A readable, deterministic text form of any JavaScript value, for logs and debugging output.
 * It looks like a JS literal but is for display only: never evaluate it.
 *
 * - Plain-object keys (and those of class instances, errors and null-prototype objects) are printed
 *   sorted, so equal contents print equally whatever the insertion order. Enumerable own symbol
 *   keys follow as `[Symbol(desc)]: value`, in insertion order. Map entries and Set values print
 *   in insertion order. Arrays print their elements only; a run of holes prints as one item,
 *   `<empty>` or `<N empty>`, so a sparse array of length 2^32-1 prints as fast as a short one.
 * - Getters and setters are never invoked: they print as `[Getter]`, `[Setter]`, `[Getter/Setter]`.
 * - A value containing itself prints `[Circular ~.path]`, the path from the root `~` to where the
 *   value was first printed (Map and Set members are named by insertion position, or by
 *   `.get(key)` for a primitive Map key). The same object reached twice without a cycle prints in
 *   full both times, within the bounds below.
 * - The output is bounded: at most `maxItems` (default 10,000) items are printed in all, and
 *   printing stops once about `maxLength` (default 1,000,000) characters are written; what is
 *   left of each container then prints as `... N more`, and a long string is cut (`"abc"… N more
 *   characters`). The result is never longer than `maxLength`. So a graph of shared references
 *   that would print 2^50 items, or a Proxy whose `length` grows each time it is read, costs
 *   no more than a value of that size.
 * - Containers nested more than `maxDepth` (default 1000) levels below the root print as `[...]`.
 *   Printing does not recurse, so no depth of nesting can overflow the call stack.
 * - Typed arrays and Buffers show their first 64 elements, then `... N more`.
 * - A value whose inspection throws (a hostile Proxy, say) prints as `[Uninspectable]`; an
 *   array's `length` is read once. table2str itself never throws on any value.
 *
 * @example
 * table2str({ b: [1, "x"], a: null, "needs quotes": true })
 * // '{ a: null, b: [ 1, "x" ], "needs quotes": true }'
 * table2str(new Map([["k", new Set([1n])]]))   // 'Map { "k" => Set { 1n } }'
 * table2str(new TypeError("bad"))                // 'TypeError("bad")'
 * table2str({ a: { b: 1 } }, { indent: 2 })
 * // '{\n  a: {\n    b: 1\n  }\n}'
 * const loop: Record<string, unknown> = {}; loop.self = { back: loop };
 * table2str(loop)                                // '{ self: { back: [Circular ~] } }'
 */
import { types } from "node:util";
import { describe } from "../runtime/errors.js";

export interface Table2strOptions {
  /** Spaces per nesting level; 0 (the default) prints everything on one line. */
  indent?: number;
  /** Containers nested more than this many levels below the root print as `[...]`. Default 1000. */
  maxDepth?: number;
  /** Items (array elements, properties, entries) printed in all. Default 10,000. */
  maxItems?: number;
  /** The longest output, in characters. Default 1,000,000. */
  maxLength?: number;
}

export const TABLE2STR_MAX_ITEMS = 10_000;
export const TABLE2STR_MAX_LENGTH = 1_000_000;

const TYPED_ARRAY_SHOWN = 64;
/** Characters of a property key or an error's name printed; the rest is cut. */
const MAX_KEY_SHOWN = 256;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A child value an object's printer needs printed, and the path to it from the root. */
interface Child {
  value: unknown;
  path: string;
}
/** Prints one object: yields each child it contains and is sent back that child's text. */
type Printer = Generator<Child, string, string>;

/**
 * The display text of `value`; the rules are in the comment at the top of this module.
 * @example table2str({ b: 1, a: [1, "x"] }) // '{ a: [ 1, "x" ], b: 1 }'
 */
export function table2str(value: unknown, options: Table2strOptions = {}): string {
  const { indent = 0, maxDepth = 1000, maxItems = TABLE2STR_MAX_ITEMS, maxLength = TABLE2STR_MAX_LENGTH } = options;
  for (const [name, n] of Object.entries({ indent, maxDepth, maxItems, maxLength })) {
    if (!Number.isInteger(n) || n < 0) throw new TypeError(`table2str(value, options): options.${name} must be an integer >= 0, got ${describe(n)}`);
  }
  if (maxLength < 100) throw new TypeError(`table2str(value, options): options.maxLength must be at least 100, got ${maxLength}`);
  /** Items printed so far, and about how many characters they take. */
  let printed = 0;
  let chars = 0;
  // Stop a little early, so what closes the containers and says `... N more` still fits.
  const full = (): boolean => printed >= maxItems || chars >= maxLength - 64;
  /** The objects being printed, from the root down to the current one, with their paths. */
  const ancestors = new Map<object, string>();

  // Printers run on an explicit stack rather than by recursion, so no nesting can overflow the call stack.
  const printers: Printer[] = [];
  let request: Child | undefined = { value, path: "~" };
  let text = "";
  for (;;) {
    if (request !== undefined) {
      if (isObject(request.value)) printers.push(printObject(request.value, request.path, printers.length));
      else text = leaf(request.value);
    }
    const top = printers.at(-1);
    if (top === undefined) return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`;
    let step: IteratorResult<Child, string>;
    try {
      step = top.next(text);
    } catch {
      step = { done: true, value: "[Uninspectable]" };
    }
    if (step.done) {
      printers.pop();
      request = undefined;
      text = step.value;
    } else {
      request = step.value;
    }
  }

  function* printObject(v: object, path: string, depth: number): Printer {
    if (typeof v === "function") return `[Function ${v.name || "(anonymous)"}]`;
    if (types.isDate(v)) return `Date(${Number.isNaN(v.getTime()) ? "Invalid" : JSON.stringify(v.toISOString())})`;
    if (types.isRegExp(v)) return String(v);
    const first = ancestors.get(v);
    if (first !== undefined) return `[Circular ${first}]`;
    if (depth > maxDepth) return "[...]";
    ancestors.set(v, path);
    try {
      return yield* printContainer(v, path, depth);
    } finally {
      ancestors.delete(v);
    }
  }

  function* printContainer(v: object, path: string, depth: number): Printer {
    const out: string[] = [];
    /** Count one item about to be printed; false (and `... N more` printed) once the output is full. */
    const room = (left: number): boolean => {
      if (!full()) {
        printed++;
        chars += 2 + indent * (depth + 1);
        return true;
      }
      out.push(`... ${left} more`);
      return false;
    };
    if (Array.isArray(v)) {
      const length: unknown = v.length; // once: a Proxy may answer differently every time
      if (typeof length !== "number" || !Number.isSafeInteger(length) || length < 0) throw new TypeError("not an array length");
      let present: number[] | null = null;
      let next = 0;
      for (let i = 0; i < length && room(length - i);) {
        const desc = Object.getOwnPropertyDescriptor(v, i);
        if (desc !== undefined) {
          out.push(yield* property(desc, `${path}[${i}]`));
          i++;
          continue;
        }
        present ??= indices(v);
        while (next < present.length && present[next]! <= i) next++;
        const end = Math.min(next < present.length ? present[next]! : length, length);
        out.push(end - i === 1 ? "<empty>" : `<${end - i} empty>`);
        i = end;
      }
      return wrap(typeName(v, "Array", false), "[", "]", out, depth);
    }
    if (types.isTypedArray(v)) {
      const shown = Math.min(v.length, TYPED_ARRAY_SHOWN);
      let i = 0;
      for (; i < shown && room(v.length - i); i++) out.push(leaf(v[i]));
      if (i === shown && v.length > shown) out.push(`... ${v.length - shown} more`);
      return wrap(typeName(v, "TypedArray", true), "[", "]", out, depth);
    }
    if (types.isMap(v)) {
      const size = Object.getOwnPropertyDescriptor(Map.prototype, "size")!.get!.call(v) as number;
      for (const [key, val] of Map.prototype.entries.call(v) as Iterable<[unknown, unknown]>) {
        const i = out.length;
        if (!room(size - i)) break;
        const printedKey = yield { value: key, path: `${path}.keys()[${i}]` };
        const valuePath = isObject(key) ? `${path}.values()[${i}]` : `${path}.get(${primitive(key)})`;
        out.push(`${printedKey} => ${yield { value: val, path: valuePath }}`);
      }
      return wrap(typeName(v, "Map", true), "{", "}", out, depth);
    }
    if (types.isSet(v)) {
      const size = Object.getOwnPropertyDescriptor(Set.prototype, "size")!.get!.call(v) as number;
      for (const val of Set.prototype.values.call(v) as Iterable<unknown>) {
        if (!room(size - out.length)) break;
        out.push(yield { value: val, path: `${path}.values()[${out.length}]` });
      }
      return wrap(typeName(v, "Set", true), "{", "}", out, depth);
    }
    const keys: (string | symbol)[] = Object.keys(v).sort();
    keys.push(...Object.getOwnPropertySymbols(v).filter((s) => Object.prototype.propertyIsEnumerable.call(v, s)));
    for (let i = 0; i < keys.length && room(keys.length - i); i++) {
      const key = keys[i]!;
      const shown = keyText(key);
      chars += shown.length;
      out.push(`${shown}: ${yield* property(Object.getOwnPropertyDescriptor(v, key), path + access(key))}`);
    }
    if (!types.isNativeError(v)) return wrap(typeName(v, "Object", false), "{", "}", out, depth);
    const name = String(v.name);
    const head = `${name.length > MAX_KEY_SHOWN ? `${name.slice(0, MAX_KEY_SHOWN)}…` : name}(${leaf(String(v.message))})`;
    return out.length === 0 ? head : wrap(head, "{", "}", out, depth);
  }

  /** An own property's value, from its descriptor, without invoking accessors. */
  function* property(desc: PropertyDescriptor | undefined, path: string): Printer {
    if (desc === undefined) return "<empty>"; // a Proxy listed a key it does not have
    if (desc.get && desc.set) return "[Getter/Setter]";
    if (desc.get) return "[Getter]";
    if (desc.set) return "[Setter]";
    return yield { value: desc.value, path };
  }

  /** A primitive's text, counted against maxLength; a string is cut to the room left. */
  function leaf(v: unknown): string {
    const room = Math.max(maxLength - chars - 64, 16); // 64: the note, and what closes around it
    const text = typeof v === "string" && v.length > room ? `${JSON.stringify(v.slice(0, room))}… ${v.length - room} more characters` : primitive(v);
    chars += text.length;
    return text;
  }

  function wrap(head: string, open: string, close: string, items: string[], depth: number): string {
    const prefix = head === "" ? "" : `${head} `;
    if (items.length === 0) return `${prefix}${open}${close}`;
    if (indent === 0) return `${prefix}${open} ${items.join(", ")} ${close}`;
    const pad = " ".repeat(indent * depth);
    const itemPad = pad + " ".repeat(indent);
    return `${prefix}${open}\n${itemPad}${items.join(`,\n${itemPad}`)}\n${pad}${close}`;
  }
}

export default table2str;

/** The indices an array (or a Proxy of one) has, ascending: where the holes end. */
function indices(v: object): number[] {
  const found: number[] = [];
  for (const key of Object.keys(v)) {
    const n = Number(key);
    if (Number.isInteger(n) && n >= 0 && String(n) === key) found.push(n);
  }
  return found.sort((a, b) => a - b);
}

/** Objects and functions: everything that can hold references, unlike primitives. */
function isObject(v: unknown): v is object {
  return typeof v === "function" || (typeof v === "object" && v !== null);
}

function primitive(v: unknown): string {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Object.is(v, -0) ? "-0" : String(v);
    case "bigint":
      return `${v}n`;
    default:
      return String(v); // undefined, null, boolean, symbol
  }
}

/**
 * The constructor name printed before a container: `Point`, `Map`, `[Object: null prototype]`.
 * `plain` is the built-in name for this kind of container; it is printed only if `showPlain`.
 */
function typeName(v: object, plain: string, showPlain: boolean): string {
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === null) return `[${plain}: null prototype]`;
  const name: unknown = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  const shown = typeof name === "string" && name !== "" ? name : plain;
  return shown === plain && !showPlain ? "" : shown;
}

/** How a property key prints before its value. */
function keyText(key: string | symbol): string {
  if (typeof key === "symbol") return `[${String(key)}]`;
  if (key.length > MAX_KEY_SHOWN) return `${JSON.stringify(key.slice(0, MAX_KEY_SHOWN))}…`;
  return IDENTIFIER.test(key) ? key : JSON.stringify(key);
}

/** How a property key extends a path: `.a`, `["needs quotes"]`, `[Symbol(s)]`. */
function access(key: string | symbol): string {
  if (typeof key === "symbol") return keyText(key);
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
