/**
 * The client's error value. It is not runtime/errors.ts's LuanetError: the browser bundle loads
 * no runtime code, so the client has its own class, with the same shape (`code`, `message`).
 */

/** `err` of `[result, err]`, and what `connect()` rejects with. `code` is one of the gate's
 * codes (docs/protocol.md 13.4, a handler's own code, or a KICK reason when connect() was
 * kicked), or the client's own: `timeout`, `disconnected`, `overloaded`, `unavailable`,
 * `protocol`, `bad_value`, `too_large`. Branch on `code`, never on `message`. */
export class ClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
  override get name(): string {
    return `ClientError[${this.code}]`;
  }
}

/** A short description of any value for TypeError messages; never throws. */
export function describe(value: unknown): string {
  try {
    if (value === null) return "null";
    if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
    if (typeof value === "function") return "a function";
    if (Array.isArray(value)) return "an array";
    if (typeof value === "object") return "an object";
    if (typeof value === "bigint") return `${value}n`;
    return String(value);
  } catch {
    return "an uninspectable value";
  }
}
