/**
 * The start module, as the original's start.lua: install the globals, create the root task and
 * run the user's script in it. The module body runs inside the root task (it may register things
 * and spawn tasks); then, if the default export is a function, the root task runs it with the
 * script's arguments. An error escaping the root task ends the process with exit code 1.
 * @internal
 */
import { announceReady } from "./cluster/ready.js";
import { isInstance } from "./errors.js";
import { installGlobals } from "./globals.js";
import { installProcessHandlers, shutdown } from "./lifecycle.js";
import { ScriptLoadError } from "./loader.js";
import { logThrown } from "./log.js";
import { printable } from "./printable.js";
import { runtime } from "./process.js";
import { setFailureReporter } from "./scheduler/failure.js";
import { settleValue } from "./scheduler/promise.js";
import { spawnNamed } from "./scheduler/spawn.js";
import type { Task } from "./scheduler/task.js";
import type { Instruction } from "./scheduler/instruction.js";

export function start(file: string, args: readonly string[]): Task {
  runtime.root.script = file;
  runtime.root.args = Object.freeze([...args]);
  process.argv = [process.argv[0]!, file, ...args];
  return runRoot(file, function* () {
    const exports = yield* runtime.loadAs(root, file, 1);
    // Started by `luanet up`: ready once the start-up steps the module body began are done.
    const self = runtime.root;
    if (process.env.LUANET_READY_FD !== undefined) void Promise.allSettled(self.startup).then(() => announceReady(self.named === null ? [] : [self.named]));
    const main = typeof exports === "function" ? exports : exports?.default;
    if (typeof main !== "function") return undefined;
    return yield* settleValue(main(...args));
  });
}

/** Run one of luanet's own programs (the name service, the CLI tools) as the root task. With
 * `exitWhenDone`, the process exits when it returns, even with connections still open. */
export function startBuiltin(name: string, main: () => Generator<Instruction, unknown, unknown>, exitWhenDone: boolean): Task {
  return runRoot(name, function* () {
    yield* main();
    if (exitWhenDone) shutdown(typeof process.exitCode === "number" ? process.exitCode : 0);
  });
}

let root: Task;

function runRoot(what: string, body: () => Generator<Instruction, unknown, unknown>): Task {
  installGlobals();
  installProcessHandlers();
  root = spawnNamed("root", body, [], runtime.root);
  runtime.root.root = root;
  const reportOther = setFailureReporter((task, error) => {
    if (runtime.rootFailed(task, error)) return;
    if (task !== root) return reportOther(task, error);
    if (isInstance(error, ScriptLoadError)) process.stderr.write(`luanet: ${printable(error.message)}\n`);
    else logThrown(`${what} failed`, error);
    shutdown(1);
  });
  return root;
}
