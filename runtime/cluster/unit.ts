/**
 * One process `luanet up` supervises (a *unit*): the services it runs, how to start it, and its
 * life: starting -> running; on an exit nobody asked for, backoff -> starting again (crash-policy.ts),
 * or "failed" (left down); stopping -> stopped. A unit found running when the supervisor starts
 * (its services registered from this host, its PID alive) is *adopted*: watched by PID, since it
 * is not this process's child.
 *
 * Children are started detached (a process group of their own), so a Ctrl-C at the terminal
 * reaches only the supervisor, which stops them in order, and a supervisor that dies leaves them
 * running. Their stdout and stderr go to the log stream; fd 3 is the ready pipe (ready.ts).
 * @internal
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { pidAlive } from "../host.js";
import type { Instance } from "../service/instance.js";
import { CrashPolicy } from "./crash-policy.js";
import type { LogStream } from "./log-stream.js";

export type Status = "starting" | "running" | "stopping" | "backoff" | "failed" | "stopped" | "exited";

/** A service a unit runs. */
export interface Member {
  readonly name: string;
  /** Its cluster file entry ("Room" for Room-2; "nameservice" for the name service). */
  readonly key: string;
  /** Its script (null for the name service). */
  readonly script: string | null;
  readonly instance: Instance | null;
}

export interface UnitSpec {
  /** What its log lines are prefixed with: its process name, or its one service's name. */
  readonly id: string;
  readonly members: readonly Member[];
  /** The arguments after `node`. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** How it says it is ready: a line on fd 3, or a check the supervisor makes. */
  readonly ready: "pipe" | ((signal: AbortSignal) => Promise<void>);
}

/** How long a started process has to say it is ready before the supervisor stops waiting (it is
 * still watched: ready or not, it runs). */
export const READY_TIMEOUT_MS = 30_000;
/** How long after SIGKILL a stop waits to see the exit. */
const KILL_WAIT_MS = 5000;
/** How often an adopted process (not our child) is checked for life. */
const ADOPTED_POLL_MS = 200;

export class Unit {
  status: Status = "stopped";
  pid: number | null = null;
  /** Date.now() when it was started (or found, if adopted). */
  since = 0;
  restarts = 0;
  adopted = false;
  /** Why it is down ("exited with code 1"), for ps and the log. */
  why: string | null = null;
  private poll: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private readonly policy = new CrashPolicy();
  private readonly exitWaiters = new Set<() => void>();
  /** Set while a start waits for the ready line. */
  private readied: (() => void) | null = null;

  constructor(readonly spec: UnitSpec, private readonly stream: LogStream, private readonly stopTimeoutMs: number) {}

  get id(): string {
    return this.spec.id;
  }

  get alive(): boolean {
    return this.pid !== null;
  }

  private say(text: string): void {
    this.stream.line("up", `${this.id}: ${text}`);
  }

  /** Start it; resolves once it is ready (or has had READY_TIMEOUT_MS to be), rejects if it exits first. */
  start(): Promise<void> {
    this.clearRetry();
    if (this.pid !== null) return Promise.resolve();
    this.status = "starting";
    this.why = null;
    const child = spawn(process.execPath, this.spec.argv as string[], {
      cwd: this.spec.cwd,
      env: { ...process.env, ...this.spec.env, LUANET_UNIT: this.id, ...(this.spec.ready === "pipe" ? { LUANET_READY_FD: "3" } : {}) },
      stdio: ["ignore", "pipe", "pipe", this.spec.ready === "pipe" ? "pipe" : "ignore"],
      detached: true,
    });
    this.adopted = false;
    this.since = Date.now();
    if (child.pid === undefined) {
      // spawn failed at once (ENOENT...): 'error' follows; treat as a crash
      return new Promise((_, reject) => child.once("error", (error) => {
        this.exited(`could not start: ${error.message}`);
        reject(error);
      }));
    }
    this.pid = child.pid;
    this.stream.follow(this.id, child.stdout!);
    this.stream.follow(this.id, child.stderr!);
    child.once("exit", (code, signal) => this.exited(signal !== null ? `killed by ${signal}` : `exited with code ${code}`, code === 0));
    child.once("error", () => {}); // a failed kill: its exit says the rest
    return this.waitReady(child);
  }

  private waitReady(child: ChildProcess): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const abort = new AbortController();
      const done = (error?: Error) => {
        clearTimeout(timer);
        this.exitWaiters.delete(onExit);
        this.readied = null;
        abort.abort();
        if (error === undefined) {
          if (this.status === "starting") this.status = "running";
          resolve();
        } else reject(error);
      };
      const onExit = () => done(new Error(`${this.why ?? "exited"} before it was ready`));
      this.exitWaiters.add(onExit);
      const timer = setTimeout(() => {
        this.say(`not ready after ${READY_TIMEOUT_MS / 1000} s; watching it anyway`);
        done();
      }, READY_TIMEOUT_MS);
      this.readied = () => done();
      if (this.spec.ready === "pipe") {
        const pipe = child.stdio[3] as Readable;
        let text = "";
        pipe.setEncoding("utf8");
        pipe.on("data", (chunk: string) => {
          text += chunk;
          if (text.includes("\n")) this.readied?.();
          if (text.length > 4096) text = "";
        });
        pipe.on("error", () => {});
      } else {
        this.spec.ready(abort.signal).then(() => this.readied?.(), () => {});
      }
    });
  }

  /** Take over a live process found in the registry (started by an earlier supervisor). */
  adopt(pid: number, since: number): void {
    this.stream.reserve(this.id);
    this.pid = pid;
    this.since = since;
    this.adopted = true;
    this.status = "running";
    this.poll = setInterval(() => {
      if (!pidAlive(pid)) this.exited("exited (it was adopted: its exit code is not known)");
    }, ADOPTED_POLL_MS);
  }

  /** It exited: as asked (stopping), or not (a crash: start it again after a delay, or leave it down). */
  private exited(why: string, clean = false): void {
    if (this.poll !== null) clearInterval(this.poll);
    this.poll = null;
    this.pid = null;
    const upMs = Date.now() - this.since;
    const asked = this.status === "stopping" || this.status === "stopped";
    this.why = asked ? null : why; // a stop it was asked for is no failure to show in ps
    for (const waiter of [...this.exitWaiters]) waiter();
    if (asked) {
      this.status = "stopped";
      return;
    }
    if (clean) {
      this.status = "exited";
      this.say(`${why}; not restarted (it ended by itself)`);
      return;
    }
    const delay = this.policy.crashed(Date.now(), upMs);
    if (delay === null) {
      this.status = "failed";
      this.say(`${why}; crashed ${this.policy.recent(Date.now())} times within a minute: left down (luanet start ${this.id} to try again)`);
      return;
    }
    this.status = "backoff";
    this.say(`${why}; restarting in ${delay / 1000} s`);
    this.retry = setTimeout(() => {
      this.retry = null;
      this.restarts++;
      this.start().then(() => this.say(`started again (pid ${this.pid})`), () => {}); // an exit is handled as a crash again
    }, delay);
  }

  private clearRetry(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
  }

  /** Stop it: SIGTERM (it drains), then SIGKILL if it has not exited within the stop timeout. */
  stop(): Promise<void> {
    this.clearRetry();
    if (this.pid === null) {
      if (this.status !== "exited" && this.status !== "failed") this.status = "stopped";
      return Promise.resolve();
    }
    this.status = "stopping";
    const pid = this.pid;
    return new Promise<void>((resolve) => {
      let last: NodeJS.Timeout | undefined;
      const kill = setTimeout(() => {
        this.say(`did not exit ${this.stopTimeoutMs / 1000} s after SIGTERM: SIGKILL`);
        signal(pid, "SIGKILL");
        // An exit never seen (a process we cannot watch) must not hold the stop for ever.
        last = setTimeout(() => {
          this.say(`no exit seen ${KILL_WAIT_MS / 1000} s after SIGKILL: counting it stopped`);
          this.exited("stopped");
        }, KILL_WAIT_MS);
      }, this.stopTimeoutMs);
      const onExit = () => {
        clearTimeout(kill);
        clearTimeout(last);
        this.exitWaiters.delete(onExit);
        resolve();
      };
      this.exitWaiters.add(onExit);
      signal(pid, "SIGTERM");
    });
  }

  /** Started again by hand after it was left down or stopped. */
  revive(): Promise<void> {
    this.policy.reset();
    return this.start();
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already: its exit follows (or was seen)
  }
}
