/**
 * Run the real `luanet` binary in child processes, through tools/procs.ts: every wait is bounded,
 * and every child a test starts is killed by PID when the test file ends, whatever happened.
 */
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";
import { luanetBin, ProcessGroup, root, type Child, type Exit } from "../../tools/procs.ts";

export { luanetBin, root, type Exit };
/** A started process: `child`, `stdout`, `stderr`, `waitFor`, `until`, `exited`, `stop`. */
export type Running = Child;

// A registry chosen in the developer's shell (LUANET_REGISTRY) must not redirect the tests.
const group = new ProcessGroup({ env: { FORCE_COLOR: "0", LUANET_REGISTRY: undefined } });
const tempDirs: string[] = [];
after(() => {
  group.killAll();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder outside the project, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "luanet-test-"));
  tempDirs.push(dir);
  return dir;
}

/** Write files (name -> source) into a fresh temp folder; returns the folder. */
export function fixture(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, source] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), source);
  }
  return dir;
}

/** Start `node bin/luanet.js ...args`. */
export function startLuanet(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  return startProcess(process.execPath, [luanetBin, ...args], { ...options, label: `luanet ${args.join(" ")}`.slice(0, 200) });
}

export function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; label?: string } = {}): Running {
  // A process run from the project folder logs into a temp folder, never into the checkout.
  const logDir = options.cwd === undefined ? { LUANET_LOG_DIR: tempDir() } : {};
  return group.start(command, args, { cwd: options.cwd ?? root, env: { ...logDir, ...options.env }, ...(options.label ? { label: options.label } : {}) });
}

/** Run luanet to completion (bounded) and return its exit. */
export function runLuanet(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Exit> {
  return startLuanet(args, options).exited(options.timeoutMs ?? 15_000);
}

/** Write one script into a fresh temp folder and run it with luanet. */
export async function runScript(source: string, options: { name?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<Exit> {
  const dir = fixture({ [options.name ?? "script.ts"]: source });
  return runLuanet([join(dir, options.name ?? "script.ts"), ...(options.args ?? [])], { cwd: dir, ...(options.env ? { env: options.env } : {}) });
}
