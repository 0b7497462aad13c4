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
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class LuanetError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
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
  constructor(code: string, message: string, remoteStack: string | null = null) {
    super(code, message);
    this.remoteStack = remoteStack;
  }
  override get name(): string {
    return `RPCError[${this.code}]`;
  }
}

/** Thrown by `yield* task` when the task was halted. */
export class TaskHaltedError extends LuanetError {
  constructor(task: { toString(): string }) {
    super(ErrorCode.halted, `${task} was halted`);
  }
}

/** A short, safe description of any value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
  if (typeof value === "object") return Array.isArray(value) ? "an array" : `an object (${value.constructor?.name ?? "null prototype"})`;
  if (typeof value === "bigint") return `${value}n`;
  return String(value);
}
