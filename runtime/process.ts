/**
 * The process's runtime, made and wired here, once: the service layer (service/runtime.ts) with
 * the script loader it needs, the `luanet` object that acts through it, and its shutdown. The
 * scheduler, the logger, the transports and the security settings are process-wide modules of
 * their own; nothing else holds process state.
 * @internal
 */
import { graceMs, onDrain, onShutdown, onShutdownStart } from "./lifecycle.js";
import { luanetFor } from "./luanet.js";
import { Runtime } from "./service/runtime.js";

/** The loader (and tsx with it) is loaded only when a script is: a library user never pays for it. */
export const runtime = new Runtime(
  (file, instance) => import("./loader.js").then((loader) => loader.loadScript(file, instance)),
  process.env,
  (file, tag, known) => import("./loader.js").then((loader) => loader.reloadScript(file, tag, known)),
);

export const luanet = luanetFor(runtime);

// Told to stop (SIGTERM, SIGINT): every service drains first (leaves the registry, finishes its calls).
onDrain(() => runtime.drain(), () => runtime.drainLimit());
// Shutdown begins: no handler starts, queued calls are answered. Then, after the tasks are halted,
// sockets get the same grace as tasks' finally blocks to hand a slow receiver what is queued.
onShutdownStart(() => runtime.beginShutdown());
onShutdown(() => runtime.close(graceMs));
