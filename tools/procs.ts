/**
 * Child processes for the tests, the soak and the benchmarks, in one place. A `ProcessGroup`
 * starts them and kills, by PID, every one still running when the process that started them
 * exits (normally, on an error, or, after `exitOnSignals`, on Ctrl-C or SIGTERM). Each child's
 * output is kept, bounded in size (the newest part), and every wait on it is bounded.
 *
 * This file imports nothing from node:test, so the soak and the benchmarks can use it; the
 * tests use it through tests/helpers/proc.ts, which also kills the children when a test file ends.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The project's folder, with a trailing slash. */
export const root = fileURLToPath(new URL("../", import.meta.url));
export const luanetBin = fileURLToPath(new URL("../bin/luanet.js", import.meta.url));

export type Stream = "stdout" | "stderr";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface StartOptions {
  cwd?: string;
  /** Added to the group's and this process's environment; a key set to undefined is removed. */
  env?: NodeJS.ProcessEnv;
  /** Names the process in error messages; default: the command and its first arguments. */
  label?: string;
  /** Characters of each stream kept (the newest); default the group's, else 16 Mi. */
  maxOutput?: number;
  /** Called with each whole line of output as it arrives, before any wait is woken. */
  onLine?: (line: string, stream: Stream) => void;
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
/** How much of each stream an error message quotes. */
const QUOTED = 4000;

/** One child process: its output so far, and bounded waits on it. */
export class Child {
  readonly child: ChildProcess;
  readonly label: string;
  /** Whether a stop or a kill was asked for: an exit before that is the process's own. */
  stopping = false;
  /** The exit, whenever it comes; `exited(ms)` waits for it bounded. */
  readonly exit: Promise<Exit>;
  private readonly out: Record<Stream, string> = { stdout: "", stderr: "" };
  private readonly dropped: Record<Stream, number> = { stdout: 0, stderr: 0 };
  private readonly partial: Record<Stream, string> = { stdout: "", stderr: "" };
  private readonly wakers = new Set<() => void>();
  private closed = false;

  constructor(command: string, args: string[], options: StartOptions & { env: NodeJS.ProcessEnv; maxOutput: number }) {
    this.label = options.label ?? [command, ...args.slice(0, 2)].join(" ");
    this.child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of ["stdout", "stderr"] as const) {
      this.child[stream]!.setEncoding("utf8").on("data", (data: string) => {
        const kept = this.out[stream] + data;
        const over = kept.length - options.maxOutput;
        this.out[stream] = over > 0 ? kept.slice(over) : kept;
        if (over > 0) this.dropped[stream] += over;
        if (options.onLine !== undefined) {
          const lines = (this.partial[stream] + data).split("\n");
          this.partial[stream] = lines.pop()!.slice(-options.maxOutput);
          for (const line of lines) options.onLine(line, stream);
        }
        this.wake();
      });
    }
    // A command that cannot be started closes with a negative code (-2 for ENOENT); say why.
    this.child.on("error", (error) => {
      this.out.stderr += `cannot run ${command}: ${error.message}\n`;
    });
    this.exit = new Promise((resolve) => this.child.on("close", (code, signal) => {
      this.closed = true;
      this.wake();
      resolve({ code, signal, stdout: this.out.stdout, stderr: this.out.stderr });
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What it printed on stdout so far (the newest `maxOutput` characters). */
  get stdout(): string {
    return this.out.stdout;
  }

  get stderr(): string {
    return this.out.stderr;
  }

  /** The tails of both streams, for an error message. */
  describe(): string {
    const tail = (stream: Stream) => {
      const text = this.out[stream];
      const cut = this.dropped[stream] + Math.max(0, text.length - QUOTED);
      return (cut > 0 ? `(${cut} characters before this left out)\n` : "") + text.slice(-QUOTED);
    };
    return `${this.label} (pid ${this.child.pid})\nstdout: ${tail("stdout")}\nstderr: ${tail("stderr")}`;
  }

  private wake(): void {
    for (const waker of [...this.wakers]) waker();
  }

  /**
   * Wait until `check()` gives a value, at most `ms`: it is tried now, after each piece of
   * output, and at the exit. Rejects, quoting the output, when the time is up or the process
   * exits first.
   */
  until<T>(what: string, check: () => T | undefined, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (error: Error | null, value?: T) => {
        clearTimeout(timer);
        this.wakers.delete(poll);
        if (error === null) resolve(value!);
        else reject(error);
      };
      const poll = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          return done(error as Error);
        }
        if (value !== undefined) return done(null, value);
        if (this.closed) done(new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}\n${this.describe()}`));
      };
      const timer = setTimeout(() => done(new Error(`timed out after ${ms} ms waiting for ${what}\n${this.describe()}`)), ms);
      this.wakers.add(poll);
      poll();
    });
  }

  /** Wait until `stream` matches `pattern`, at most `ms`. */
  waitFor(pattern: RegExp, ms = 10_000, stream: Stream = "stdout"): Promise<RegExpExecArray> {
    return this.until(`${pattern} on ${stream}`, () => pattern.exec(this.out[stream]) ?? undefined, ms);
  }

  /** Wait for the exit, at most `ms`; past that the child is killed (SIGKILL) and this throws. */
  async exited(ms = 10_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        reject(new Error(`${this.label} did not exit within ${ms} ms\n${this.describe()}`));
      }, ms);
    });
    try {
      return await Promise.race([this.exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `ms`; false if it needed the SIGKILL. */
  async stop(ms: number): Promise<boolean> {
    if (!this.running) return true;
    this.stopping = true;
    this.child.kill("SIGTERM");
    try {
      await this.exited(ms);
      return true;
    } catch {
      await this.kill9();
      return false;
    }
  }

  /** SIGKILL, and wait (at most 10 s, else throw) until it is gone. */
  async kill9(): Promise<void> {
    this.stopping = true;
    if (this.running) this.child.kill("SIGKILL");
    await this.exited(10_000);
  }
}

/** The processes one program starts: each killed by PID when that program exits, if still running. */
export class ProcessGroup {
  private readonly children = new Set<Child>();

  /** `env` and `maxOutput` are defaults for every process the group starts. */
  constructor(private readonly defaults: { env?: NodeJS.ProcessEnv; maxOutput?: number } = {}) {
    process.on("exit", () => this.killAll());
  }

  /** Start `command args` with pipes for stdout and stderr. */
  start(command: string, args: string[], options: StartOptions = {}): Child {
    const child = new Child(command, args, {
      ...options,
      env: { ...process.env, ...this.defaults.env, ...options.env },
      maxOutput: options.maxOutput ?? this.defaults.maxOutput ?? DEFAULT_MAX_OUTPUT,
    });
    this.children.add(child);
    void child.exit.then(() => this.children.delete(child));
    return child;
  }

  /** Start `node [...nodeArgs] bin/luanet.js ...args`. */
  luanet(args: string[], options: StartOptions & { nodeArgs?: string[] } = {}): Child {
    return this.start(process.execPath, [...(options.nodeArgs ?? []), luanetBin, ...args], { label: `luanet ${args.join(" ")}`.slice(0, 200), ...options });
  }

  /** SIGKILL, by PID, every process of the group still running. Safe to call more than once. */
  killAll(): void {
    for (const child of this.children) if (child.running) child.child.kill("SIGKILL");
  }

  /** SIGKILL every process of the group still running, and wait (bounded) until all are gone. */
  async kill9All(): Promise<void> {
    await Promise.all([...this.children].map((child) => child.kill9()));
  }

  /** On SIGINT or SIGTERM: say so on stderr, kill every process of the group, exit 130 or 143. */
  exitOnSignals(who: string): void {
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      process.on(signal, () => {
        console.error(`\n${who}: ${signal}: stopping every process it started`);
        this.killAll();
        process.exit(code);
      });
    }
  }
}

/** Resident memory of any process by PID, from /proc (Linux); null where there is no /proc or no such process. */
export function rssOf(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
