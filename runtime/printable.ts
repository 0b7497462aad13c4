/**
 * Text from outside (a peer's names, messages, error stacks, a script's log lines) made safe to
 * print: every control character (C0, DEL, C1), bidirectional-text control and line or paragraph
 * separator is written visibly as an escape (`\n`, `\x1b`, `\u202e`), so one log entry is always
 * one line and nothing printed can move the cursor, colour the terminal or reorder what follows.
 * Backslashes are left alone: a forged `\n` is two harmless characters.
 * @internal
 */

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
/** The same class, to test with: a test is much cheaper than a replace that changes nothing. */
// eslint-disable-next-line no-control-regex
const ANY_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

/** Whether `text` holds a character that printing would escape (names may hold none). */
export const hasUnsafe = (text: string): boolean => ANY_UNSAFE.test(text);
/** What JSON.stringify leaves raw inside strings: UNSAFE less C0, which it escapes (and which
 * its own indentation uses outside strings). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function hex(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}
const escapeOne = (c: string): string => SHORT[c] ?? hex(c);
const jsonEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** `text` with its control characters escaped, cut to at most `max` characters of the input
 * (then `…(N more)`). */
export function printable(text: string, max = Infinity): string {
  if (text.length <= max && !ANY_UNSAFE.test(text)) return text; // the common case: nothing to do
  const cut = text.length > max ? text.slice(0, max) : text;
  const safe = cut.replace(UNSAFE, escapeOne);
  return cut === text ? safe : `${safe}…(${text.length - max} more)`;
}

/** JSON text (JSON.stringify's output) with what it leaves raw (DEL, C1, bidi controls)
 * escaped as `\uXXXX`: still the same JSON, now safe on a terminal. */
export function printableJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, jsonEscape);
}

/** `text` escaped, then cut to `width` characters with an ellipsis: one table cell. */
export function cell(text: string, width: number): string {
  const safe = printable(text, width);
  return safe.length > width ? `${safe.slice(0, width - 1)}…` : safe;
}
