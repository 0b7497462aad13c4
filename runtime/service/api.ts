/**
 * The service half of the `luanet` object: start this process's service, register it, and talk
 * to other services by name with messages and RPC.
 */
import { formatAddr, isNetAddr, SOCK_DGRAM, SOCK_STREAM, type NetAddr, type SocketType } from "../../stdlib/net.js";
import { describe, isInstance, LuanetError, RPCError } from "../errors.js";
import { badName } from "../names.js";
import { graceMs, onShutdown, shutdown } from "../lifecycle.js";
import { log, setLogSource } from "../log.js";
import { security } from "../security/settings.js";
import { chooseForScript, registerSelf, registry, registryFor, republish } from "../registry/select.js";
import type { Instruction, Operation } from "../scheduler/instruction.js";
import { awaitPromise } from "../scheduler/loop.js";
import { encode, Type } from "../wire/envelope.js";
import { awaitWithin, TIMED_OUT } from "./await-within.js";
import { call, connected, frame, lookingUp } from "./call.js";
import { config } from "./config.js";
import { closeAll, Conn } from "./conn.js";
import { handlers, type Handler } from "./dispatch.js";
import { local } from "./local.js";
import { peerNamed, transportFor } from "./peers.js";
import { presence, type DisconnectHandler } from "./presence.js";
import type { RPCResult } from "./sessions.js";

export type { RPCResult } from "./sessions.js";
export type { CallContext } from "./dispatch.js";
export type { Message } from "./mailbox.js";
export type { DisconnectHandler, DisconnectReason } from "./presence.js";

/** A start-up step's outcome in the `ret, err` shape: `[value, null]` or `[null, err]`. */
export type Result<T> = [T, null] | [null, LuanetError];

/**
 * An operation that has already started: calling the function starts the work (so it can be
 * used at a script's top level, as in the original). A task that `yield*`s the result gets the
 * outcome as a value (`shape`); if nothing ever does and the work fails, the failure is fatal: it
 * is logged and the process exits 1.
 */
function started<T, R>(what: string, work: Promise<T>, shape: (value: T | null, error: LuanetError | null) => R): Operation<R> {
  let observed = false;
  work.catch((error: Error) => {
    if (observed || reported.has(error)) return;
    reported.add(error); // registration fails with the listener's error: say it once
    log.error(`${what} failed: ${error.message}`);
    shutdown(1);
  });
  return {
    *[Symbol.iterator]() {
      observed = true;
      try {
        return shape(yield* awaitPromise(work), null);
      } catch (error) {
        return shape(null, isInstance(error, LuanetError) ? error : new LuanetError("unavailable", String((error as Error)?.message ?? error)));
      }
    },
  };
}

const reported = new WeakSet<Error>();

const isLoopback = (addr: NetAddr): boolean =>
  addr.family === "local" || (addr.family === "inet" ? addr.ip.startsWith("127.") : addr.ip === "::1" || addr.ip === "::ffff:127.0.0.1");

/** One warning when a service anyone on the network can reach has nothing to tell friend from foe. */
function warnIfExposed(name: string, type: SocketType, addr: NetAddr): void {
  const { secret, tls } = security();
  if (isLoopback(addr) || secret !== null || (tls !== null && type === SOCK_STREAM)) return;
  log.warn(`${name} listens on ${formatAddr(addr)}, beyond this machine, with no cluster secret${type === SOCK_STREAM ? " and no TLS" : " (TLS does not cover UDP)"}: ` +
    `anyone who can reach it can call its functions. Set one with --secret-file or LUANET_SECRET_FILE (README, "Security").`);
}
let listening: Promise<NetAddr> | null = null;

/**
 * Start this process's service: name it and listen on `addr` (its main listener). Port 0 picks
 * a free port; the real one is what gets registered: `const [addr, err] = yield*
 * luanet.StartLocalService(...)` gives it (err: address_in_use, listen_failed). Called without
 * `yield*`, a failure ends the process. `onDisconnected(peer, reason)`: see README.
 * @example luanet.StartLocalService("PlusServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 8012))
 */
export function StartLocalService(name: string, type: SocketType, addr: NetAddr, onDisconnected?: DisconnectHandler): Operation<Result<NetAddr>> {
  const where = "luanet.StartLocalService(name, type, addr, onDisconnected?)";
  const refused = badName(name);
  if (refused !== null) throw new TypeError(`${where}: ${refused}, got ${describe(name)}`);
  if (type !== SOCK_STREAM && type !== SOCK_DGRAM) throw new TypeError(`${where}: type must be SOCK_STREAM or SOCK_DGRAM, got ${describe(type)}`);
  if (!isNetAddr(addr)) throw new TypeError(`${where}: addr must come from net.netaddr_ipv4, netaddr_ipv6 or netaddr_local, got ${describe(addr)}`);
  if (onDisconnected !== undefined && typeof onDisconnected !== "function") throw new TypeError(`${where}: onDisconnected must be a function, got ${describe(onDisconnected)}`);
  if (local.name !== null) throw new TypeError(`${where}: this process already runs the service "${local.name}"; start one service per process`);
  if (type === SOCK_DGRAM && addr.family === "local") {
    throw new TypeError(`${where}: Node.js has no UNIX datagram sockets, so SOCK_DGRAM needs netaddr_ipv4 or netaddr_ipv6; for a UNIX socket use SOCK_STREAM`);
  }

  local.name = name;
  local.type = type;
  setLogSource(name);
  presence.handler = onDisconnected ?? null;
  listening = transportFor(type)
    .listen(addr, (link) => {
      const conn = new Conn(null);
      conn.link = link;
      return conn;
    }, config)
    .then((listener) => {
      local.listener = listener;
      local.addr = listener.addr;
      onShutdown(() => listener.close());
      log.info(`${name} listening on ${formatAddr(listener.addr)}`);
      warnIfExposed(name, type, listener.addr);
      return listener.addr;
    }, (error: NodeJS.ErrnoException) => {
      // Not started after all: the script may try again (another address, another name).
      local.name = null;
      listening = null;
      presence.handler = null;
      throw new LuanetError(error.code === "EADDRINUSE" ? "address_in_use" : "listen_failed", `${name} cannot listen on ${formatAddr(addr)}: ${error.message}`);
    });
  return started(`starting ${name}`, listening, (value, error) => (error === null ? [value!, null] : [null, error]));
}

/**
 * Register this service (its name, address, pid, host and RPC functions, including ones
 * registered later) with the registry at `nameaddr`: the built-in name service (a net address,
 * or "127.0.0.1:8010") or etcd ("etcd://host:port[,host:port...]"). `--registry` or
 * LUANET_REGISTRY, when given, choose the registry instead, so a script runs on etcd unchanged.
 * While the registry is unreachable it keeps retrying; if it loses the registration (a restart),
 * the service registers again by itself. A name held by another live service is refused:
 * `const err = yield* luanet.Register2Name(...)` gives the error (name_taken, bad_request, or the
 * listener's own); called without `yield*`, a failure ends the process.
 * @example luanet.Register2Name(net.netaddr_ipv4("127.0.0.1", 8010))
 */
export function Register2Name(nameaddr: NetAddr | string): Operation<LuanetError | null> {
  const spec = registryFor(nameaddr);
  if (listening === null) throw new TypeError("luanet.Register2Name(nameaddr): call luanet.StartLocalService first: there is no service to register");
  chooseForScript(spec);
  const registered = listening.then(() => registerSelf(() => [...handlers.keys()]));
  return started(`registering ${local.name}`, registered, (_, error) => error);
}

/**
 * Offer `fn` as the RPC function `name`. `fn(args, ctx)` may be a plain function (its return value
 * is the result) or a generator function (it runs in a task of its own and may block); a thrown
 * error becomes the caller's `remote_error`.
 * @example luanet.RegRPCFunction("Plus", ({ a, b }) => a + b)
 */
export function RegRPCFunction(name: string, fn: Handler): void {
  const problem = badName(name);
  if (problem !== null) throw new TypeError(`luanet.RegRPCFunction(name, fn): name: ${problem}, got ${describe(name)}`);
  if (typeof fn !== "function") throw new TypeError(`luanet.RegRPCFunction(name, fn): fn must be a function, got ${describe(fn)}`);
  const isNew = !handlers.has(name);
  handlers.set(name, fn);
  if (isNew) republish();
}

export interface CallOptions {
  /** Deadline in ms (default: luanet.Configure({ rpcTimeout }), 10 s). */
  timeout?: number;
}

function checkName(value: unknown, where: string, what: string): asserts value is string {
  if (typeof value !== "string" || value.length === 0) throw new TypeError(`${where}: ${what} must be a non-empty string, got ${describe(value)}`);
}

function timeoutOf(opts: CallOptions | undefined, where: string): number {
  if (opts === undefined) return config.rpcTimeout;
  if (typeof opts !== "object" || opts === null) throw new TypeError(`${where}: opts must be an object, got ${describe(opts)}`);
  const t = opts.timeout ?? config.rpcTimeout;
  if (typeof t !== "number" || !(t > 0) || t === Infinity) throw new TypeError(`${where}: opts.timeout must be a positive number of ms, got ${describe(opts.timeout)}`);
  return t;
}

/**
 * Call `func` of the service `service`: `const [ret, err] = yield* luanet.RPCCall(...)`. `err` is
 * null on success, else an RPCError whose `code` is timeout, unavailable, disconnected,
 * no_such_function, remote_error, too_large, overloaded or bad_value.
 * @example const [sum, err] = yield* luanet.RPCCall<number>("PlusServer", "Plus", { a: 1, b: 2 })
 */
export function RPCCall<T = unknown>(service: string, func: string, args?: unknown, opts?: CallOptions): Operation<RPCResult<T>> {
  const where = "luanet.RPCCall(service, func, args?, opts?)";
  checkName(service, where, "service");
  checkName(func, where, "func");
  const ms = timeoutOf(opts, where);
  return call(peerNamed(service), func, args ?? null, ms) as Operation<RPCResult<T>>;
}

/**
 * Send a one-way message to `service`: `const err = yield* luanet.SendMsg(...)`. null means it was
 * handed to the connection; messages from one sender to one receiver arrive in order. While the
 * connection has more than `sendHighWater` bytes queued (the receiver reads slower than we
 * send), the sending task waits for it to drain; after `rpcTimeout` it gets a "timeout" error and
 * the message is not sent.
 */
export function SendMsg(service: string, msg: unknown): Operation<RPCError | null> {
  checkName(service, "luanet.SendMsg(service, msg)", "service");
  return (function* () {
    const started = performance.now();
    const conn = yield* connected(peerNamed(service), config.rpcTimeout);
    if (conn instanceof RPCError) return conn;
    const body = frame(() => encode([Type.MSG, msg]), `the message to ${service}`, conn.link);
    if (body instanceof RPCError) return body;
    if (conn.link.buffered > config.sendHighWater) {
      const left = Math.max(1, config.rpcTimeout - (performance.now() - started));
      if ((yield* awaitWithin(conn.link.drained(), left, `SendMsg(${service})`)) === TIMED_OUT) {
        return new RPCError("timeout", `${service} has not read what was already sent to it for ${config.rpcTimeout} ms (over ${config.sendHighWater} bytes queued); the message was not sent`);
      }
      if (conn.link.closed) return new RPCError("disconnected", `the connection to ${service} dropped while the message waited to be sent`);
    }
    conn.link.send(body);
    return null;
  })();
}

/**
 * End the process gracefully: halt every task (their `finally` blocks run), flush and close every
 * connection and listener, then exit with `code`. Unlike `process.exit`, nothing already sent is
 * lost.
 */
export function Exit(code = 0): void {
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new TypeError(`luanet.Exit(code): code must be an integer from 0 to 255, got ${describe(code)}`);
  shutdown(code);
}

// Sockets get the same grace as tasks' finally blocks to hand a slow receiver what is queued.
onShutdown(() => closeAll(graceMs));

/**
 * The live services that provide `func`, from the registry (the name service, or etcd's index):
 * `const [names, err] = yield* luanet.GetRemoteFuncProvider(func, { timeout? })`; err is an
 * RPCError (unavailable, timeout) when the registry cannot answer within the deadline.
 */
export function GetRemoteFuncProvider(func: string, opts?: CallOptions): Operation<RPCResult<string[]>> {
  const where = "luanet.GetRemoteFuncProvider(func, opts?)";
  checkName(func, where, "func");
  const ms = timeoutOf(opts, where);
  return (function* (): Generator<Instruction, RPCResult<string[]>, unknown> {
    try {
      const names = yield* lookingUp((left) => registry().providers(func, left), ms, `GetRemoteFuncProvider(${func})`);
      if (names === TIMED_OUT) return [null, new RPCError("timeout", `${registry().where} did not answer within ${ms} ms`)];
      return [names, null];
    } catch (error) {
      return [null, isInstance(error, RPCError) ? error : new RPCError("unavailable", `${registry().where} did not answer: ${String((error as Error)?.message ?? error)}`)];
    }
  })();
}
