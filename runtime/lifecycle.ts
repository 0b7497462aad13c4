/**
 * Process lifetime. A luanet process ends like a Node one: when no task can run again and nothing
 * holds the event loop (no listener, no timer). SIGINT and SIGTERM end it gracefully, in two
 * steps: first the drain (the drain hooks, run concurrently: each service leaves the registry and
 * finishes the calls it is running, service.ts `drain`), then the shutdown: every task is halted
 * so its `finally` blocks run, then the shutdown hooks (listeners, logs) run, then the process
 * exits with 130 or 143. A second signal exits at once. `luanet.Exit()` and nothing left to run
 * (`beforeExit`) shut down at once, with no drain.
 * @internal
 */
import { log, logThrown } from "./log.js";
import { halt } from "./scheduler/halt.js";
import { allDone, liveTasks } from "./scheduler/live.js";

type Hook = () => void | Promise<void>;
const hooks: Hook[] = [];
const startHooks: (() => void)[] = [];
/** Drain hooks, each with the longest it may take (ms). */
const drainHooks: { hook: () => Promise<void>; limitMs: () => number }[] = [];
let exiting = false;
let draining = false;
/** A program that stops in its own way on SIGINT and SIGTERM (see takeSignals). */
let onStopSignal: ((code: number) => void) | null = null;

/** What the drain waits beyond its hooks' longest limit before it shuts down regardless. */
const DRAIN_MARGIN_MS = 1000;

/** Tasks named in the "still running" warning (at most 200 characters each); the rest are counted. */
const STUCK_LISTED = 5;

/** Grace for tasks' `finally` blocks at shutdown; `LUANET_SHUTDOWN_GRACE_MS` overrides it. */
export const graceMs = Number(process.env.LUANET_SHUTDOWN_GRACE_MS ?? 5000);

/** Run `hook` at shutdown, after the tasks are halted. Hooks run last-registered first. */
export function onShutdown(hook: Hook): () => void {
  hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}

/** Run `hook` as soon as shutdown begins, before any task is halted (synchronously). */
export function onShutdownStart(hook: () => void): void {
  startHooks.push(hook);
}

/**
 * Run `hook` when a signal asks the process to stop, before the shutdown: hooks run concurrently,
 * and the shutdown follows once all have settled, or `limitMs()` (the longest limit of all
 * hooks, read when the drain begins) plus a second has passed, whichever is first.
 */
export function onDrain(hook: () => Promise<void>, limitMs: () => number): () => void {
  const entry = { hook, limitMs };
  drainHooks.push(entry);
  return () => {
    const i = drainHooks.indexOf(entry);
    if (i >= 0) drainHooks.splice(i, 1);
  };
}

/** True once the drain or the shutdown has begun (`luanet.stopping`). */
export function stopping(): boolean {
  return exiting || draining;
}

/** Drain (see the top of this file), then `shutdown(code)`. */
export function drainThenShutdown(code: number): void {
  if (exiting || draining) return;
  draining = true;
  const entries = drainHooks.splice(0);
  const limit = Math.max(0, ...entries.map((e) => e.limitMs())) + DRAIN_MARGIN_MS;
  let timer: NodeJS.Timeout | undefined;
  // Not unref'd: the drain holds the process open (else beforeExit would end it at once, with 0).
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn(`drain: still not done after ${limit} ms; shutting down`);
      resolve();
    }, limit);
  });
  const all = Promise.all(entries.map(async ({ hook }) => {
    try {
      await hook();
    } catch (error) {
      log.error("drain hook failed", { error });
    }
  }));
  void Promise.race([all, bound]).then(() => {
    clearTimeout(timer);
    shutdown(code);
  });
}

/** Stop new work, halt every task, run the hooks, exit with `code`. */
export function shutdown(code: number): void {
  if (exiting) return;
  exiting = true;
  for (const hook of startHooks) {
    try {
      hook();
    } catch (error) {
      log.error("shutdown hook failed", { error: error as Error });
    }
  }
  for (const task of liveTasks()) halt(task);
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      const stuck = liveTasks();
      const named = stuck.slice(0, STUCK_LISTED).map((t) => `${t}${t.waitingOn === null ? "" : ` in ${t.waitingOn}`}`.slice(0, 200));
      const more = stuck.length > STUCK_LISTED ? ` and ${stuck.length - STUCK_LISTED} more` : "";
      log.warn(`shutdown: ${stuck.length} task(s) still running after ${graceMs} ms: ${named.join(", ")}${more}`);
      resolve();
    }, graceMs);
  });
  void Promise.race([allDone(), grace])
    .then(async () => {
      clearTimeout(timer);
      for (const hook of hooks.splice(0).reverse()) {
        try {
          await hook();
        } catch (error) {
          log.error("shutdown hook failed", { error });
        }
      }
    })
    .finally(() => exitWhenDrained(code));
}

/** Exit once everything written to stdout and stderr has left the process: process.exit drops
 * what is still queued for a pipe that is read slowly (`luanet call ... | (sleep 1; wc -c)`). */
function exitWhenDrained(code: number): void {
  let waiting = 2;
  const done = (): void => {
    if (--waiting === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.writableLength === 0) done();
    else stream.write("", done); // called once what was queued before it is written (or failed)
  }
}

/** Let `handler` deal with the first SIGINT or SIGTERM instead of the shutdown (`luanet up` stops
 * its services in order first); `code` is what the shutdown would exit with. A second signal
 * still exits at once. */
export function takeSignals(handler: (code: number) => void): void {
  onStopSignal = handler;
}

/** Signals and uncaught errors: installed once by the start module. */
export function installProcessHandlers(): void {
  const onSignal = (signal: NodeJS.Signals, code: number) => () => {
    if (exiting || draining) process.exit(code);
    log.debug(`${signal}: draining, then shutting down`);
    if (onStopSignal === null) return drainThenShutdown(code);
    draining = true;
    onStopSignal(code);
  };
  process.on("SIGINT", onSignal("SIGINT", 130));
  process.on("SIGTERM", onSignal("SIGTERM", 143));
  // Nothing can run and nothing holds the process open: end as SIGTERM would, so tasks still
  // blocked run their finally blocks and connections close gracefully.
  process.on("beforeExit", () => shutdown(typeof process.exitCode === "number" ? process.exitCode : 0));
  process.on("SIGPIPE", () => {}); // a peer that went away is an error on its socket, not a process kill
  // Nor is a reader of stdout or stderr that went away (the `luanet up` that started this process
  // was killed): console output is lost, the log file and the service carry on.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
  process.on("uncaughtException", (error) => {
    log.error("uncaught exception", { error });
    shutdown(1);
  });
  process.on("unhandledRejection", (reason) => {
    logThrown("unhandled promise rejection", reason);
    shutdown(1);
  });
}
