/**
 * `luanet up [file]`: run a cluster file's services on this host and keep them running.
 *
 *   1. Read and check the file (file.ts). Every service gets the file's registry
 *      (LUANET_REGISTRY) and this host's name (LUANET_HOST, `--host`).
 *   2. The registry first: a name service address where nothing answers gets a name service
 *      started here (a unit like the others: supervised, stopped last); one that answers and was
 *      started by an earlier `luanet up` on this host is adopted; etcd is used as it is.
 *   3. Register this supervisor as `luanet.supervisor@<host>`, the service the tools call.
 *   4. Adopt the services already running from this host (a restarted supervisor), then start
 *      the others in the file's order, each entry once the one before it is ready.
 *   5. Stay in the foreground, printing one log stream; Ctrl-C or SIGTERM stops every service
 *      in reverse order, each drained, then exits 0 (a second signal exits at once).
 * @internal
 */
import { formatAddr, parseAddr, SOCK_STREAM, type NetAddr } from "../../stdlib/net.js";
import { describe, LuanetError } from "../errors.js";
import { hostName, pidAlive } from "../host.js";
import { graceMs, shutdown, takeSignals } from "../lifecycle.js";
import { packageRoot } from "../package-info.js";
import { printable } from "../printable.js";
import { runtime } from "../process.js";
import type { RegistrySpec } from "../registry/select.js";
import type { ServiceInfo } from "../registry/types.js";
import type { Instruction } from "../scheduler/instruction.js";
import { awaitPromise, inTask } from "../scheduler/promise.js";
import { Register2Name, RegRPCFunction, RPCCall, StartLocalService } from "../service/api.js";
import { RELOAD_FUNCTION } from "../service/reserved.js";
import { findClusterFile, readClusterFile, type ClusterFile } from "./file.js";
import { LogStream } from "./log-stream.js";
import { Supervisor, SUPERVISOR_PREFIX } from "./supervisor.js";
import { scanUnits } from "./scan.js";
import { Unit } from "./unit.js";
import { ReloadOnChange, type Reloaded } from "./watch.js";

/** How long a reload --watch asks for may take. */
const RELOAD_TIMEOUT_MS = 30_000;

export interface UpFlags {
  /** The supervisor's host name (LUANET_HOST): one supervisor per host name. */
  host?: string;
  /** Where the supervisor listens for the tools (default 127.0.0.1, any port). */
  listen?: NetAddr;
  /** A registry given on the command line, over the file's. */
  registry?: { spec: RegistrySpec; text: string };
  /** Reload a service when its script or a file it imports changes (watch.ts). */
  watch?: boolean;
}

/** How long a stopped service has to drain and exit before SIGKILL: its drain grace, the
 * shutdown's grace, and slack. */
const stopTimeoutMs = () => Number(process.env.LUANET_DRAIN_MS ?? 10_000) + graceMs + 5000;

function fail(message: string): void {
  process.stderr.write(`luanet up: ${printable(message)}\n`);
  shutdown(1);
}

export function* up(given: string | undefined, flags: UpFlags): Generator<Instruction, void, unknown> {
  const stream = new LogStream();
  const host = flags.host ?? hostName();
  let file: ClusterFile;
  try {
    file = yield* awaitPromise(readClusterFile(findClusterFile(given), host, (path) => import("../loader.js").then((loader) => loader.loadScript(path))));
  } catch (error) {
    return fail((error as Error).message);
  }
  process.env.LUANET_HOST = host; // this process's registration says it too
  const spec = flags.registry?.spec ?? file.registry;
  const registryText = flags.registry?.text ?? file.registryText;
  runtime.registries.pin(spec);
  const context = { cli: packageRoot + "bin/luanet.js", env: { LUANET_REGISTRY: registryText, LUANET_HOST: host } };
  const nameservice = spec.kind === "nameservice" ? nameServiceUnit(spec.addr, context, stream) : null;
  const supervisor = new Supervisor(file, host, context, stream, stopTimeoutMs(), nameservice);
  let stopping = false;
  let watcher: ReloadOnChange | null = null;
  takeSignals(() => {
    stopping = true;
    stream.line("up", "stopping every service (Ctrl-C again to exit at once)");
    watcher?.close();
    void supervisor.stopAll(() => runtime.stopService(runtime.root, "luanet up is stopping")).then(() => {
      stream.line("up", "stopped");
      shutdown(0);
    });
  });

  const began = performance.now();
  if (nameservice !== null && !(yield* ensureNameService(nameservice, (spec as { addr: NetAddr }).addr, host, stream))) return fail(`no name service answers at ${registryText}, and none could be started there`);
  if (stopping) return;

  const self = runtime.root;
  const name = SUPERVISOR_PREFIX + host;
  // Giving up before anything else started: stop the name service only if this run started it
  // (an adopted one serves the supervisor that refused this one).
  const giveUp = (why: string) => void (nameservice !== null && !nameservice.adopted ? nameservice.stop() : Promise.resolve()).then(() => fail(why));
  const listen = flags.listen ?? parseAddr("127.0.0.1:0");
  const [, listenError] = yield* StartLocalService(self, name, SOCK_STREAM, listen);
  if (listenError !== null) return giveUp(listenError.message);
  const registerError = yield* Register2Name(self, registryText);
  if (registerError !== null) {
    return giveUp(registerError.code === "name_taken" ? `another luanet up runs on the host "${host}" (${registerError.message}); one supervisor per host: stop it, or give this one another --host` : registerError.message);
  }
  if (spec.kind === "etcd" && listen.family === "inet" && listen.ip.startsWith("127.")) {
    stream.line("up", `the supervisor listens on ${formatAddr(self.addr!)}: tools on other machines cannot reach it (give --listen <ip>:0)`);
  }
  if (flags.watch === true) watcher = new ReloadOnChange(stream, reloadService);
  offer(supervisor, file, host, watcher);

  let registered: ServiceInfo[] = [];
  try {
    registered = yield* self.registry.list(self.config.rpcTimeout);
  } catch (error) {
    stream.line("up", `cannot list the registry to adopt the services already running (${(error as Error).message}); adopting only those this host shows`);
  }
  for (const line of supervisor.adopt(registered, scanUnits(host, registryText))) stream.line("up", line);
  yield* awaitPromise(supervisor.startAll()); // it prints what it did
  if (stopping) return;
  watcher?.track(supervisor.members());
  const rows = supervisor.ps();
  stream.line("up", `${rows.filter((r) => r.pid !== null).length} of ${rows.length} services running, ${Math.round(performance.now() - began)} ms; ` +
    `${name} at ${formatAddr(self.addr!)} (luanet ps, restart, scale, stop, start)`);
}

/** The functions the tools call (tools.ts). A target no unit of this supervisor matches answers
 * `{ matched: false }`, so a tool can ask every supervisor of a cluster. */
function offer(supervisor: Supervisor, file: ClusterFile, host: string, watcher: ReloadOnChange | null): void {
  const self = runtime.root;
  const target = (args: unknown): string => {
    const t = (args as { target?: unknown } | null)?.target;
    if (typeof t !== "string" || t === "") throw new LuanetError("bad_request", `the target must be a service, group or process name, got ${describe(t)}`);
    return t;
  };
  RegRPCFunction(self, "Ps", () => ({ host, pid: process.pid, file: file.path, rows: supervisor.ps() }));
  for (const [func, op] of [["Restart", (t: string) => supervisor.restart(t)], ["Stop", (t: string) => supervisor.stop(t)], ["Start", (t: string) => supervisor.start(t)]] as const) {
    RegRPCFunction(self, func, function* (args: unknown) {
      const t = target(args);
      if (!supervisor.has(t)) return { matched: false, done: [] };
      return { matched: true, done: yield* awaitPromise(op(t)) };
    });
  }
  RegRPCFunction(self, "Scale", function* (args: unknown) {
    const { service, count } = (args ?? {}) as { service?: unknown; count?: unknown };
    if (typeof service !== "string" || !file.services.some((s) => s.key === service)) return { matched: false, done: [] };
    if (typeof count !== "number") throw new LuanetError("bad_request", `the count must be a number, got ${describe(count)}`);
    const done = yield* awaitPromise(supervisor.scale(service, count));
    watcher?.track(supervisor.members());
    return { matched: true, done };
  });
}

/** Ask `service` to reload its code (its reserved luanet.reload): what it answers, or its error. */
function reloadService(service: string): Promise<Reloaded | Error> {
  return rootTask(`reloading ${service}`, function* () {
    const [ret, err] = yield* RPCCall<Reloaded>(runtime.root, service, RELOAD_FUNCTION, null, { timeout: RELOAD_TIMEOUT_MS });
    return err ?? ret;
  }).catch((error: Error) => error);
}

/** `body` in a task of the supervisor's service, as a promise. */
function rootTask<T>(name: string, body: () => Generator<Instruction, T, unknown>): Promise<T> {
  return inTask((n, b) => runtime.root.spawn(n, b), name, body, () => new LuanetError("shutting_down", `luanet up stopped before ${name} was done`));
}

/** The name service `luanet up` runs when nothing answers at the file's address. */
function nameServiceUnit(addr: NetAddr, context: { cli: string; env: Record<string, string> }, stream: LogStream): Unit {
  const spec = {
    id: "nameservice", members: [{ name: "nameservice", key: "nameservice", script: null, instance: null }],
    argv: [context.cli, "nameservice", "--listen", formatAddr(addr)], env: context.env, cwd: process.cwd(),
    ready: async (signal: AbortSignal) => {
      while (!signal.aborted) {
        if ((await statusAt(addr)) !== null) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
  return new Unit(spec, stream, stopTimeoutMs());
}

interface NameServiceStatus {
  pid: number;
  host: string;
  started: number;
}

/** What the name service at `addr` says of itself, or null if nothing answers there. */
function statusAt(addr: NetAddr): Promise<NameServiceStatus | "old" | null> {
  return rootTask("asking the name service", function* () {
    const [ret, err] = yield* runtime.nameService(addr, null).call("Status", null, 2000);
    return err === null ? (ret as NameServiceStatus) : err.code === "no_such_function" ? "old" : null;
  }).catch(() => null);
}

/** Start the name service unless one answers; adopt one an earlier `luanet up` of this host started. */
function* ensureNameService(unit: Unit, addr: NetAddr, host: string, stream: LogStream): Generator<Instruction, boolean, unknown> {
  const status = yield* awaitPromise(statusAt(addr));
  if (status !== null) {
    if (status !== "old" && status.host === host && pidAlive(status.pid)) {
      unit.adopt(status.pid, status.started);
      stream.line("up", `nameservice: adopted (pid ${status.pid})`);
    } else stream.line("up", `using the name service at ${formatAddr(addr)}${status === "old" ? "" : ` (pid ${status.pid} on ${status.host}; not supervised here)`}`);
    return true;
  }
  try {
    yield* awaitPromise(unit.start());
  } catch (error) {
    stream.line("up", `nameservice: ${(error as Error).message}`);
    return false;
  }
  stream.line("up", `nameservice: started at ${formatAddr(addr)} (pid ${unit.pid})`);
  return true;
}
