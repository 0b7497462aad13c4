/**
 * Run the real `luanet` binary in child processes. Every wait is bounded, and every child a test
 * starts is killed by PID when the test file ends, whatever happened.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../../", import.meta.url));
export const luanetBin = join(root, "bin", "luanet.js");

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
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

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Wait until stdout (or stderr) matches, at most `ms`. */
  waitFor(pattern: RegExp, ms?: number, stream?: "stdout" | "stderr"): Promise<RegExpExecArray>;
  /** Wait for the exit, at most `ms`; kills the child (SIGKILL) and throws if it does not exit. */
  exited(ms?: number): Promise<Exit>;
}

/** Start `node bin/luanet.js ...args`. */
export function startLuanet(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  return startProcess(process.execPath, [luanetBin, ...args], options);
}

export function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  // A process run from the project folder logs into a temp folder, never into the checkout.
  const logDir = options.cwd === undefined ? { LUANET_LOG_DIR: tempDir() } : {};
  const child = spawn(command, args, {
    cwd: options.cwd ?? root,
    // A registry chosen in the developer's shell (LUANET_REGISTRY) must not redirect the tests.
    env: { ...process.env, FORCE_COLOR: "0", LUANET_REGISTRY: undefined, ...logDir, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const out = { stdout: "", stderr: "" };
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out.stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out.stderr += d));
  const exit = new Promise<Exit>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, ...out }));
  });
  return {
    child,
    get stdout() { return out.stdout; },
    get stderr() { return out.stderr; },
    waitFor(pattern, ms = 10_000, stream = "stdout") {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out[stream]);
          if (m !== null) {
            cleanup();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${ms} ms waiting for ${pattern} on ${stream}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
        }, ms);
        const onClose = () => {
          check();
          cleanup();
          reject(new Error(`process exited before ${pattern} appeared\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout!.off("data", check);
          child.stderr!.off("data", check);
          child.off("close", onClose);
        };
        child.stdout!.on("data", check);
        child.stderr!.on("data", check);
        child.on("close", onClose);
        check();
      });
    },
    async exited(ms = 10_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`process did not exit within ${ms} ms\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
        }, ms);
      });
      try {
        return await Promise.race([exit, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
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
