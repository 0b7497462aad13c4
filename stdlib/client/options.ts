/**
 * connect()'s options, checked once (a wrong one is a TypeError naming it), with their
 * defaults, and the reconnect backoff.
 */
import { describe } from "./error.js";

export interface ReconnectOptions {
  /** Attempts after a drop before giving up (the "close" event); default Infinity. */
  retries?: number;
  /** Wait before the first attempt, doubled after each failed one; default 250 ms. */
  delayMs?: number;
  /** The longest wait between attempts; default 10 000 ms. */
  maxDelayMs?: number;
}

export interface ConnectOptions {
  /** The AUTH's args (for the gate's auth function, e.g. `{ token }`), sent when the gate's
   * HELLO asks for AUTH, and again on every reconnect. */
  auth?: unknown;
  /** Deadline of connect(), and of each reconnect attempt: connecting, HELLO and the AUTH's
   * answer; default 10 000 ms. */
  timeout?: number;
  /** Reconnect after a drop (off by default); `true` takes the defaults. */
  reconnect?: boolean | ReconnectOptions;
  /** Requests awaiting answers at once; past it request() answers `overloaded` without sending;
   * default 64 (the gate's own default bound). */
  maxPending?: number;
  /** Largest frame accepted from the gate; a larger one closes the connection ("protocol");
   * default 16 MiB. */
  maxFrameBytes?: number;
  /** Bytes written and not yet sent past which request() and send() answer `overloaded`;
   * default 1 MiB. */
  maxQueueBytes?: number;
}

export interface Settings {
  readonly auth: { readonly args: unknown } | undefined;
  readonly timeoutMs: number;
  readonly reconnect: Readonly<Required<ReconnectOptions>> | null;
  readonly maxPending: number;
  readonly maxFrameBytes: number;
  readonly maxQueueBytes: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
const KNOWN = new Set(["auth", "timeout", "reconnect", "maxPending", "maxFrameBytes", "maxQueueBytes"]);
const RECONNECT_KNOWN = new Set(["retries", "delayMs", "maxDelayMs"]);

/** A positive number of milliseconds (a request's or connect's `timeout`); TypeError otherwise. */
export function checkMs(value: unknown, what: string): number {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) throw new TypeError(`${what} must be a positive number of milliseconds, got ${describe(value)}`);
  return value;
}

function positiveInt(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw new TypeError(`${what} must be a positive integer, got ${describe(value)}`);
  return value;
}

function plainObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TypeError(`${what} must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

function unknownKeys(o: Record<string, unknown>, known: Set<string>, what: string): void {
  const bad = Object.keys(o).filter((k) => !known.has(k));
  if (bad.length > 0) throw new TypeError(`${what} has no option ${bad.map((k) => JSON.stringify(k)).join(", ")} (it takes ${[...known].join(", ")})`);
}

export function settingsOf(options: unknown): Settings {
  if (options === undefined) options = {};
  const o = plainObject(options, "connect(url, options): options");
  unknownKeys(o, KNOWN, "connect(url, options): options");
  const what = (key: string) => `connect(url, options): options.${key}`;
  return {
    auth: o.auth === undefined ? undefined : { args: o.auth },
    timeoutMs: o.timeout === undefined ? DEFAULT_TIMEOUT_MS : checkMs(o.timeout, what("timeout")),
    reconnect: reconnectOf(o.reconnect),
    maxPending: o.maxPending === undefined ? 64 : positiveInt(o.maxPending, what("maxPending")),
    maxFrameBytes: o.maxFrameBytes === undefined ? 16 * 1024 * 1024 : positiveInt(o.maxFrameBytes, what("maxFrameBytes")),
    maxQueueBytes: o.maxQueueBytes === undefined ? 1024 * 1024 : positiveInt(o.maxQueueBytes, what("maxQueueBytes")),
  };
}

function reconnectOf(value: unknown): Required<ReconnectOptions> | null {
  if (value === undefined || value === false) return null;
  const what = "connect(url, options): options.reconnect";
  const r = value === true ? {} : plainObject(value, `${what} (true, false or { retries, delayMs, maxDelayMs })`);
  unknownKeys(r, RECONNECT_KNOWN, what);
  const retries = r.retries ?? Infinity;
  if (typeof retries !== "number" || !(retries === Infinity || (Number.isSafeInteger(retries) && retries >= 0))) throw new TypeError(`${what}.retries must be a whole number >= 0 or Infinity, got ${describe(retries)}`);
  const delayMs = r.delayMs === undefined ? 250 : checkMs(r.delayMs, `${what}.delayMs`);
  const maxDelayMs = r.maxDelayMs === undefined ? Math.max(10_000, delayMs) : checkMs(r.maxDelayMs, `${what}.maxDelayMs`);
  if (maxDelayMs < delayMs) throw new TypeError(`${what}.maxDelayMs (${maxDelayMs}) must not be below delayMs (${delayMs})`);
  return { retries, delayMs, maxDelayMs };
}

/** The wait before reconnect attempt `n` (0 first): delayMs doubled n times, at most
 * maxDelayMs, then jittered to between half and all of it, so that the clients a gate dropped
 * together do not all come back in the same instant. */
export function backoffMs(r: Readonly<Required<ReconnectOptions>>, n: number, random: () => number = Math.random): number {
  const base = Math.min(r.maxDelayMs, r.delayMs * 2 ** Math.min(n, 52));
  return base / 2 + (random() * base) / 2;
}
