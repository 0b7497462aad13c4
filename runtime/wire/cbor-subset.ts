/**
 * The CBOR luanet accepts from peers, checked on the raw bytes before anything is decoded, so no
 * decoder feature the protocol does not use can be reached from the network:
 *
 *     major 0, 1   integers, any argument width (1, 2, 4 or 8 bytes; not 28-31)
 *     major 2, 3   byte and text strings of definite length (cbor-x decodes no other)
 *     major 4, 5   arrays and maps, definite or indefinite, nested at most MAX_DEPTH deep;
 *                  map keys are integers or text strings (cbor-x makes them property names)
 *     major 6      only these tags, each over the item kind shown:
 *                    0 text (date string)   1 integer of at most 4 bytes, or float
 *                                           (epoch date: cbor-x reads an 8-byte integer as a
 *                                           BigInt, which its Date conversion throws on)
 *                    2, 3 byte string of at most MAX_BIGNUM_BYTES (bignums)
 *                    258 array (Set)        259 map (Map)
 *                    64-87 byte string (typed arrays)
 *                  and no other: not 27 (generic objects: live RegExp and Error objects), not
 *                  28/29 (value sharing: a small frame that expands into a huge graph), not
 *                  cbor-x's records, packed values or bundled strings
 *     major 7      false, true, null, undefined, and half/single/double floats; "break" only
 *                  where an indefinite array or map ends; no other simple values
 *
 * and exactly one item, with nothing after it, that would take at most MAX_COST once decoded.
 * These are what luanet's own encoder writes (it
 * also writes tag 27 for an Error or RegExp inside a value: encode() refuses those, see
 * envelope.ts). The walk is iterative (no recursion however deep the input claims to be) and
 * linear in the input's length.
 * @internal
 */

/** Deepest nesting of arrays, maps and tags accepted. */
export const MAX_DEPTH = 256;
/**
 * What a body is estimated to cost in memory once decoded: its bytes, plus CONTAINER_COST for
 * each array, map and tag and STRING_COST for each string (the heap objects behind them; a
 * one-byte empty map is an object of some 50 bytes). A body estimated over MAX_COST is refused,
 * and queues of received frames (mailbox, handler queue) are bounded by this estimate.
 */
export const CONTAINER_COST = 64;
export const STRING_COST = 24;
export const MAX_COST = 64 * 1024 * 1024;
/** Largest bignum (tags 2 and 3) accepted, in bytes: 1024 bits and then some. */
export const MAX_BIGNUM_BYTES = 256;

/** What the item after a tag must be: a mask of allowed majors (bit n = major n), floats as bit 8. */
const FLOAT = 1 << 8;
function tagContent(tag: number): number {
  if (tag === 0) return 1 << 3;
  if (tag === 1) return (1 << 0) | (1 << 1) | FLOAT;
  if (tag === 2 || tag === 3 || (tag >= 64 && tag <= 87)) return 1 << 2;
  if (tag === 258) return 1 << 4;
  if (tag === 259) return 1 << 5;
  return 0;
}

// The walk's stack, reused: for each open container, the items still to read (-1: indefinite,
// until "break"). checkSubset runs to completion synchronously, so one stack serves every call.
const left = new Float64Array(MAX_DEPTH + 1);
/** Per open container: 0 an array; in a map, KEY or VALUE, what its next item is (cbor-x makes
 * keys property names, so they must be integers or text). */
const phase = new Uint8Array(MAX_DEPTH + 1);
const KEY = 1;
const VALUE = 2;

/** The estimated cost of the body checkSubset last passed (see MAX_COST). */
export let cost = 0;

/** Why `b` is not one CBOR item of luanet's subset, or null if it is one (then `cost` is its estimate). */
export function checkSubset(b: Uint8Array): string | null {
  const end = b.length;
  let depth = 0;
  let pos = 0;
  let want = -1; // the item-kind mask a tag imposes on the next item, -1: any
  let bignum = false;
  let epoch = false;
  let objects = 0;
  let strings = 0;
  for (;;) {
    if (pos >= end) return "it ends in the middle of an item";
    const initial = b[pos++]!;
    const major = initial >> 5;
    const ai = initial & 31;
    const atKey = depth > 0 && phase[depth - 1] === KEY && want === -1;
    if (initial === 0xff) {
      if (depth === 0 || left[depth - 1] !== -1 || want !== -1) return "a \"break\" outside an indefinite-length array or map";
      if (phase[depth - 1] === VALUE) return "an indefinite-length map that ends after a key, with no value";
      depth--;
    } else {
      if (atKey && major !== 0 && major !== 1 && major !== 3) return "a map key that is not an integer or a text string";
      // The argument: the value, length or count that follows the initial byte.
      let arg = ai;
      if (ai >= 24) {
        if (ai >= 28 && !(ai === 31 && (major === 4 || major === 5))) return `a reserved or unsupported initial byte 0x${initial.toString(16)}`;
        if (ai !== 31) {
          const n = 1 << (ai - 24);
          if (pos + n > end) return "it ends in the middle of an item";
          arg = 0;
          for (let i = 0; i < n; i++) arg = arg * 256 + b[pos++]!;
        }
      }
      if (want !== -1) {
        if ((want & (major === 7 ? (ai >= 25 && ai <= 27 ? FLOAT : 0) : 1 << major)) === 0) return "a tag over the wrong kind of item";
        if (bignum && arg > MAX_BIGNUM_BYTES) return `a bignum of over ${MAX_BIGNUM_BYTES} bytes`;
        if (epoch && major <= 1 && ai === 27) return "an epoch date (tag 1) over an 8-byte integer";
        want = -1;
        bignum = false;
        epoch = false;
      }
      if (major <= 1) {
        // an integer: nothing more to read
      } else if (major <= 3) {
        if (arg > end - pos) return "a string longer than what is left of the frame";
        pos += arg;
        strings++;
      } else if (major <= 5) {
        objects++;
        if (ai === 31 || arg > 0) {
          if (depth >= MAX_DEPTH) return `nested deeper than ${MAX_DEPTH}`;
          // Every item takes at least one byte: a count beyond what is left can never be met.
          if (ai !== 31 && arg > end - pos) return "an array or map declares more items than the frame holds";
          left[depth] = ai === 31 ? -1 : major === 5 ? arg * 2 : arg;
          phase[depth++] = major === 5 ? KEY : 0;
          continue;
        }
      } else if (major === 6) {
        want = tagContent(arg);
        if (want === 0) return `tag ${arg}, which the protocol does not use`;
        bignum = arg === 2 || arg === 3;
        epoch = arg === 1;
        objects++;
        continue; // the tagged item follows
      } else if (ai < 20 || ai === 24) {
        return `simple value ${ai === 24 ? "(one-byte form)" : ai}, which the protocol does not use`;
      }
    }
    // One item is complete: count it against the containers it completes.
    while (depth > 0) {
      const p = phase[depth - 1]!;
      if (p !== 0) phase[depth - 1] = KEY + VALUE - p;
      if (left[depth - 1] === -1 || --left[depth - 1]! !== 0) break;
      depth--;
    }
    if (depth === 0) break;
  }
  if (pos !== end) return `${end - pos} byte(s) after the item`;
  const estimate = end + objects * CONTAINER_COST + strings * STRING_COST;
  if (estimate > MAX_COST) return `it would take about ${Math.round(estimate / 1048576)} MiB once decoded (${objects} arrays, maps and tags, ${strings} strings), over the ${MAX_COST / 1048576} MiB allowed`;
  cost = estimate;
  return null;
}
