/**
 * The processes of a soak run: each is started with `node --expose-gc bin/luanet.js ...`, its
 * stdout read as JSON lines (see report.ts), its stderr's tail kept for error messages. Every
 * process started here is killed by its PID when the runner exits, however it exits: normally,
 * on an error, or on Ctrl-C / SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const luanetBin = fileURLToPath(new URL("../bin/luanet.js", import.meta.url));
const started = new Set<ChildProcess>();

/** Kill every process still running, by PID, with SIGKILL. Safe to call more than once. */
export function killAll(): void {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
process.on("exit", killAll);
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    console.error(`\nsoak: ${signal}: stopping every process it started`);
    killAll();
    process.exit(code);
  });
}

/** One line a script printed, with when the runner read it (ms since the run started). */
export type Line = { type: string; t: number } & Record<string, unknown>;

export class Proc {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  private stderrTail = "";
  private stdoutBuf = "";
  private readonly waiters: (() => void)[] = [];
  /** True once the process has exited and its output is all read. */
  private closed = false;
  /** True once the runner has sent it SIGTERM or SIGKILL: an exit before that is its own. */
  stopping = false;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** Start `luanet ...args` with `env` added; `label` names it in messages. */
  constructor(readonly label: string, args: string[], env: NodeJS.ProcessEnv, private readonly t0: number) {
    this.child = spawn(process.execPath, ["--expose-gc", luanetBin, ...args], {
      env: { ...process.env, FORCE_COLOR: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    started.add(this.child);
    this.child.stdout!.setEncoding("utf8").on("data", (data: string) => this.onStdout(data));
    this.child.stderr!.setEncoding("utf8").on("data", (data: string) => {
      this.stderrTail = (this.stderrTail + data).slice(-4000);
      this.wake();
    });
    this.exited = new Promise((resolve) => this.child.on("close", (code, signal) => {
      this.closed = true;
      this.wake();
      resolve({ code, signal });
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  private onStdout(data: string): void {
    this.stdoutBuf += data;
    let nl: number;
    while ((nl = this.stdoutBuf.indexOf("\n")) >= 0) {
      const text = this.stdoutBuf.slice(0, nl);
      this.stdoutBuf = this.stdoutBuf.slice(nl + 1);
      try {
        const value = JSON.parse(text) as Record<string, unknown>;
        if (typeof value.type === "string") this.lines.push({ ...value, type: value.type, t: Date.now() - this.t0 });
      } catch {
        // not one of our lines: ignore
      }
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The last line of this type, if any. */
  last(type: string): Line | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) if (this.lines[i]!.type === type) return this.lines[i];
    return undefined;
  }

  /** Wait until `check()` gives a value, at most `ms`; throws (with the stderr tail) otherwise. */
  until<T>(what: string, check: () => T | undefined, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        settled = true;
        reject(new Error(`${this.label} (pid ${this.pid}): ${why}\n${this.stderrTail}`));
      };
      const timer = setTimeout(() => fail(`no ${what} within ${ms} ms`), ms);
      const poll = () => {
        if (settled) return;
        const value = check();
        if (value !== undefined) {
          settled = true;
          clearTimeout(timer);
          return resolve(value);
        }
        if (this.closed) {
          clearTimeout(timer);
          return fail(`exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}`);
        }
        this.waiters.push(poll);
      };
      poll();
    });
  }

  /** Wait for a line of this type (one printed after `after` lines), at most `ms`. */
  waitLine(type: string, ms: number, after = 0): Promise<Line> {
    return this.until(`"${type}" line`, () => this.lines.slice(after).find((l) => l.type === type), ms);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `ms`; false if it needed the SIGKILL. */
  async stop(ms: number): Promise<boolean> {
    if (!this.running) return true;
    this.stopping = true;
    this.child.kill("SIGTERM");
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      this.child.kill("SIGKILL");
    }, ms);
    await this.exited;
    clearTimeout(timer);
    return !forced;
  }

  /** SIGKILL, and wait until it is gone. */
  async kill9(): Promise<void> {
    this.stopping = true;
    if (this.running) this.child.kill("SIGKILL");
    await this.exited;
  }
}

/** Start `luanet ...args`. */
export function start(label: string, args: string[], env: NodeJS.ProcessEnv, t0: number): Proc {
  return new Proc(label, args, env, t0);
}

/** Resident memory of any process by PID, from /proc (Linux); null where there is no /proc. */
export function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
