/**
 * A readable, deterministic text form of any JavaScript value, for logs and debugging output.
 * It looks like a JS literal but is for display only: never evaluate it.
 *
 * - Plain-object keys (and those of class instances, errors and null-prototype objects) are printed
 *   sorted, so equal contents print equally whatever the insertion order. Enumerable own symbol
 *   keys follow as `[Symbol(desc)]: value`, in insertion order. Map entries and Set values print
 *   in insertion order. Arrays print their elements only; holes print as `<empty>`.
 * - Getters and setters are never invoked: they print as `[Getter]`, `[Setter]`, `[Getter/Setter]`.
 * - A value containing itself prints `[Circular ~.path]`, the path from the root `~` to where the
 *   value was first printed (Map and Set members are named by insertion position, or by
 *   `.get(key)` for a primitive Map key). The same object reached twice without a cycle prints in
 *   full both times.
 * - Containers nested more than `maxDepth` (default 1000) levels below the root print as `[...]`.
 *   Printing does not recurse, so no depth of nesting can overflow the call stack.
 * - Typed arrays and Buffers show their first 64 elements, then `... N more`.
 * - A value whose inspection throws (a hostile Proxy, say) prints as `[Uninspectable]`.
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
}

const TYPED_ARRAY_SHOWN = 64;
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
  const { indent = 0, maxDepth = 1000 } = options;
  for (const [name, n] of Object.entries({ indent, maxDepth })) {
    if (!Number.isInteger(n) || n < 0) throw new TypeError(`table2str(value, options): options.${name} must be an integer >= 0, got ${describe(n)}`);
  }
  /** The objects being printed, from the root down to the current one, with their paths. */
  const ancestors = new Map<object, string>();

  // Printers run on an explicit stack rather than by recursion, so no nesting can overflow the call stack.
  const printers: Printer[] = [];
  let request: Child | undefined = { value, path: "~" };
  let text = "";
  for (;;) {
    if (request !== undefined) {
      if (isObject(request.value)) printers.push(printObject(request.value, request.path, printers.length));
      else text = primitive(request.value);
    }
    const top = printers.at(-1);
    if (top === undefined) return text;
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
    const items: string[] = [];
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) items.push(yield* property(v, String(i), `${path}[${i}]`));
      return wrap(typeName(v, "Array", false), "[", "]", items, depth);
    }
    if (types.isTypedArray(v)) {
      for (let i = 0; i < Math.min(v.length, TYPED_ARRAY_SHOWN); i++) items.push(primitive(v[i]));
      if (v.length > TYPED_ARRAY_SHOWN) items.push(`... ${v.length - TYPED_ARRAY_SHOWN} more`);
      return wrap(typeName(v, "TypedArray", true), "[", "]", items, depth);
    }
    if (types.isMap(v)) {
      for (const [key, val] of Map.prototype.entries.call(v) as Iterable<[unknown, unknown]>) {
        const i = items.length;
        const printedKey = yield { value: key, path: `${path}.keys()[${i}]` };
        const valuePath = isObject(key) ? `${path}.values()[${i}]` : `${path}.get(${primitive(key)})`;
        items.push(`${printedKey} => ${yield { value: val, path: valuePath }}`);
      }
      return wrap(typeName(v, "Map", true), "{", "}", items, depth);
    }
    if (types.isSet(v)) {
      for (const val of Set.prototype.values.call(v) as Iterable<unknown>) {
        items.push(yield { value: val, path: `${path}.values()[${items.length}]` });
      }
      return wrap(typeName(v, "Set", true), "{", "}", items, depth);
    }
    const keys: (string | symbol)[] = Object.keys(v).sort();
    keys.push(...Object.getOwnPropertySymbols(v).filter((s) => Object.prototype.propertyIsEnumerable.call(v, s)));
    for (const key of keys) items.push(`${keyText(key)}: ${yield* property(v, key, path + access(key))}`);
    if (!types.isNativeError(v)) return wrap(typeName(v, "Object", false), "{", "}", items, depth);
    const head = `${String(v.name)}(${JSON.stringify(String(v.message))})`;
    return items.length === 0 ? head : wrap(head, "{", "}", items, depth);
  }

  /** An own property's value, without invoking accessors; `<empty>` if there is none (an array hole). */
  function* property(obj: object, key: string | symbol, path: string): Printer {
    const desc = Object.getOwnPropertyDescriptor(obj, key);
    if (desc === undefined) return "<empty>";
    if (desc.get && desc.set) return "[Getter/Setter]";
    if (desc.get) return "[Getter]";
    if (desc.set) return "[Setter]";
    return yield { value: desc.value, path };
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
  return IDENTIFIER.test(key) ? key : JSON.stringify(key);
}

/** How a property key extends a path: `.a`, `["needs quotes"]`, `[Symbol(s)]`. */
function access(key: string | symbol): string {
  if (typeof key === "symbol") return keyText(key);
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
