/**
 * Typed errors. Every error luanet hands a user has a stable `code`, so callers branch on
 * `err.code === "timeout"`, never on message text.
 */

export const ErrorCode = {
  /** A task was halted before it finished; joining it throws this. */
  halted: "halted",
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
