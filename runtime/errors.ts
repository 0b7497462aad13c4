/**
 * Typed errors. Every error luanet hands a user has a stable `code`, so callers branch on
 * `err.code === "timeout"`, never on message text.
 */

export const ErrorCode = {
  /** A task was halted before it finished; joining it throws this. */
  halted: "halted",
  /** The call's deadline passed before a reply came. */
  timeout: "timeout",
  /** No live service has that name, or it could not be reached. */
  unavailable: "unavailable",
  /** The connection to the service dropped while the call was pending. */
  disconnected: "disconnected",
  /** The service has no function of that name. */
  no_such_function: "no_such_function",
  /** The handler threw; the message and the remote stack come with it. */
  remote_error: "remote_error",
  /** The message is larger than the maximum frame size. */
  too_large: "too_large",
  /** The service has too many calls queued already. */
  overloaded: "overloaded",
  /** The service is shutting down: the call was queued or arrived after shutdown began, or its
   * handler was halted unfinished. */
  shutting_down: "shutting_down",
  /** A value that cannot be sent (a function, a symbol...). */
  bad_value: "bad_value",
  /** The name is registered by another live service. */
  name_taken: "name_taken",
  /** A request the other side refused as malformed (a registration with a bad field...). */
  bad_request: "bad_request",
  /** StartLocalService: another socket is bound to that address. */
  address_in_use: "address_in_use",
  /** StartLocalService: listening failed for another reason (permissions, no such address). */
  listen_failed: "listen_failed",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** luanet's own codes, or any code a handler chose (`new LuanetError("bad_credentials", ...)`). */
export type AnyCode = ErrorCode | (string & {});

export class LuanetError extends Error {
  readonly code: AnyCode;
  constructor(code: AnyCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
  override get name(): string {
    return `LuanetError[${this.code}]`;
  }
}

/** The error half of `const [ret, err] = yield* luanet.RPCCall(...)`. */
export class RPCError extends LuanetError {
  /** For `remote_error`: the handler's stack, as the remote process printed it. */
  readonly remoteStack: string | null;
  constructor(code: AnyCode, message: string, remoteStack: string | null = null) {
    super(code, message);
    this.remoteStack = remoteStack;
  }
  override get name(): string {
    return `RPCError[${this.code}]`;
  }
}

/**
 * A registry that answered this process before did not answer now: it is probably restarting,
 * so a look-up is worth trying again within the caller's deadline (service/call.ts).
 */
export class RegistryAwayError extends RPCError {
  constructor(message: string) {
    super(ErrorCode.unavailable, message);
  }
}

/** Thrown by `yield* task` when the task was halted. */
export class TaskHaltedError extends LuanetError {
  constructor(task: { toString(): string }) {
    super(ErrorCode.halted, `${task} was halted`);
  }
}

/** A short description of any value for error messages. It never throws: a hostile value (a
 * Proxy whose traps throw, a getter that throws) is described as far as it can be read. */
export function describe(value: unknown): string {
  try {
    if (value === null) return "null";
    if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
    if (typeof value === "function") return `function ${text(read(value, "name"), 40) || "(anonymous)"}`;
    if (typeof value === "object") {
      if (Array.isArray(value)) return "an array";
      if (Object.getPrototypeOf(value) === null) return "an object (null prototype)";
      return `an object (${text(read(read(value, "constructor"), "name"), 40) ?? "of no readable class"})`;
    }
    if (typeof value === "bigint") return `${value}n`;
    return String(value);
  } catch {
    return "an uninspectable value";
  }
}

/** Longest message and stack taken from a thrown value (characters); the rest is cut. */
export const MAX_THROWN_MESSAGE = 4096;
export const MAX_THROWN_STACK = 16_384;

/** What a thrown value says about itself, as a reply or a log line carries it. */
export interface Thrown {
  /** The code of a LuanetError raised on purpose, else null (an RPCError from a call the
   * thrower made is not its own error: null too). */
  code: string | null;
  message: string;
  stack: string | null;
}

/**
 * Read anything thrown, never throwing: no toString, getter or Proxy trap of `error` escapes,
 * and every string is cut to a bound. An Error gives its message and stack; anything else is
 * described (`a thrown object (null prototype)`), a string or number is its own message.
 */
export function thrown(error: unknown): Thrown {
  if (!isError(error)) {
    const message = typeof error === "string" ? error : typeof error === "object" || typeof error === "function" ? `a thrown ${describe(error).replace(/^an? /, "")}` : describe(error);
    return { code: null, message: cut(message, MAX_THROWN_MESSAGE), stack: null };
  }
  const message = text(read(error, "message"), MAX_THROWN_MESSAGE) ?? "(no readable message)";
  const stack = text(read(error, "stack"), MAX_THROWN_STACK);
  const own = isInstance(error, LuanetError) && !isInstance(error, RPCError);
  return { code: own ? text(read(error, "code"), 64) : null, message, stack };
}

/** `value instanceof type`, false where even asking throws (a Proxy's getPrototypeOf trap). */
export function isInstance<T>(value: unknown, type: abstract new (...args: never[]) => T): value is T {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

export const isError = (value: unknown): value is Error => isInstance(value, Error);

/** `obj[key]`, or undefined if reading it throws. */
function read(obj: unknown, key: string): unknown {
  try {
    return (obj as Record<string, unknown> | null | undefined)?.[key];
  } catch {
    return undefined;
  }
}

/** A string value cut to `max`, or null for anything that is not a string. */
function text(value: unknown, max: number): string | null {
  return typeof value === "string" ? cut(value, max) : null;
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
