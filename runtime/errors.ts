/**
 * Typed errors. Every error luanet hands a user has a stable `code`, so callers branch on
 * `err.code === "timeout"`, never on message text.
 */

/**
 * Every code luanet itself can produce or hand a user, each with when it happens and whether
 * trying again can help. README.md, "Error codes", is the one table of them (with which ones a
 * callee sends in ERROR frames); tests/error-codes.test.ts checks that the runtime emits no other
 * code and that the table lists exactly these.
 */
export const ErrorCode = {
  // --- calls, messages and look-ups (RPCCall, SendMsg, GetRemoteFuncProvider) ---
  /** No answer within the deadline (looking up and connecting count; SendMsg: the receiver did not read its backlog). Retry: can help, but the handler may have run. */
  timeout: "timeout",
  /** No live service has that name, it cannot be reached (refused, silent, failed the cluster handshake), or the registry cannot answer. Retry: yes, later. */
  unavailable: "unavailable",
  /** The connection dropped while the call or message waited (the peer died, went silent, left the registry, broke the protocol). Retry: yes (it reconnects), but the handler may have run. */
  disconnected: "disconnected",
  /** The callee has no function of that name (ERROR frame). Retry: no. */
  no_such_function: "no_such_function",
  /** The handler threw (ERROR frame); `remoteStack` is its stack. Retry: only if what made the handler fail was passing. */
  remote_error: "remote_error",
  /** The call, message or result is over the maximum frame size (here, or the callee's ERROR frame for a result). Retry: no. */
  too_large: "too_large",
  /** Too much is waiting already: this process's calls or bytes queued to the peer, or the callee's handler queue (ERROR frame); `luanet.reload`: a reload of that service runs already. Retry: yes, after backing off. */
  overloaded: "overloaded",
  /** The callee is shutting down: the call was queued or arrived after shutdown began, or its handler was halted unfinished (ERROR frame). Retry: yes, once it or another provider is up. */
  shutting_down: "shutting_down",
  /** The callee is leaving (told to stop, it is draining: it left the registry and finishes the calls it was running); it did not run this call (ERROR frame). A group call is retried on another member at once. Retry: yes, elsewhere (look the name up again). */
  draining: "draining",
  /** The args, message or result hold a value the protocol cannot carry (a function, a symbol, an Error...): here or the callee's ERROR frame. Retry: no. */
  bad_value: "bad_value",

  // --- starting and registering (StartLocalService, Register2Name, JoinGroup) ---
  /** Register2Name: another live process holds the name, or the name is a group's (services have joined it); JoinGroup: a live service has the group's name. A service and a group share one namespace (the name service's ERROR frame, or etcd's keys, read here). Retry: only once the holder has gone (the group's last member has left). */
  name_taken: "name_taken",
  /** Register2Name: a field of the registration is wrong (a bad name, too many functions...), found here or by the name service (ERROR frame). Retry: no. */
  bad_request: "bad_request",
  /** StartLocalService (and so Register2Name): another socket is bound to that address. Retry: yes, once it is free, or on another address. */
  address_in_use: "address_in_use",
  /** StartLocalService (and so Register2Name): listening failed for another reason (permissions, no such address). Retry: no. */
  listen_failed: "listen_failed",

  // --- the process ---
  /** A task was halted before it finished: joining it (`yield* task`) throws this. Retry: no. */
  halted: "halted",
  /** The script, or a module it imports, has a syntax error (`luanet` prints it and exits 1), or threw at top level (on a hot reload, `luanet.reload`'s ERROR frame: the old code keeps serving). Retry: no. */
  script_load: "script_load",
  /** A security setting is unusable (the secret file is unreadable or under 16 bytes, TLS lacks a file): the process stops at start. Retry: no. */
  bad_config: "bad_config",

  // --- links: why one was closed (logged; a call on it ends unavailable or disconnected) ---
  /** A peer broke the wire protocol (bad CBOR or envelope, no HELLO first, a HELLO refused): its link is closed; never in an ERROR frame. Retry: no. */
  protocol: "protocol",
  /** A link failed the cluster handshake (no secret, another secret, no answer): it is closed, and a caller that dialed it gets unavailable. Retry: no. */
  unauthenticated: "unauthenticated",

  // --- gates and their clients (luanet.StartGate; docs/protocol.md section 13) ---
  /** Push, Kick, Session.set, a channel's add or remove: the gate holds no such session (it has ended). Retry: no. */
  no_such_session: "no_such_session",
  /** A client's request before its session authenticated (the gate's ERROR frame to the client). Retry: after AUTH. */
  not_authenticated: "not_authenticated",
  /** A client's AUTH was refused: the auth function threw, or answered without a uid. Retry: with other credentials (3 tries per session). */
  auth_failed: "auth_failed",
  /** A client sent more requests and messages than the gate's rateLimit allows. Retry: yes, slower. */
  rate_limited: "rate_limited",

  // --- the tools (luanet ls, call, send) ---
  /** `luanet call` or `luanet send`: the arguments or the message are not JSON (exit 2). Retry: no. */
  bad_json: "bad_json",
  /** `luanet restart`, `stop`, `start` or `scale`: no supervisor (luanet up) runs a service, group or entry of that name. Retry: no. */
  not_found: "not_found",
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
