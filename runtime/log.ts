/**
 * The logger: one for user scripts (`luanet.log`, `import log from "luanet/log"`) and for the
 * runtime itself. A line is formatted on the main thread and handed to a writer thread through
 * a bounded shared ring (log-ring.ts), so logging never waits for the disk unless a burst fills
 * the ring. The console gets the line too: coloured by level on a terminal, plain otherwise.
 *
 * File format, one entry per line; an Error field's stack follows on lines that start with two
 * spaces:
 *
 *     2026-11-24T16:30:00.123Z INFO  PlusServer[4242] PlusServer listening on 127.0.0.1:8012 port=8012
 *     <ISO-8601 UTC time> <level, padded to 5> <service or script>[<pid>] <message> <key>=<JSON value>...
 *
 * Whatever a peer or a script puts in a message, a field or a name, an entry is one line (plus
 * its stack lines): control characters (C0, DEL, C1), bidirectional-text controls and line
 * separators are written as escapes (`\n`, `\x1b`, `\u202e`), and each string is cut at
 * MAX_LOGGED_STRING characters. Only the logger's own colours reach a terminal.
 *
 * Every line logged before the process ends is on disk after a normal exit, `process.exit()`,
 * SIGINT/SIGTERM and an uncaught exception: the `exit` handler waits (at most 5 s) for the writer.
 */
import { basename, extname, resolve } from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { chalkStderr as chalk } from "chalk";
import { table2str } from "../stdlib/table2str.js";
import { isError, thrown } from "./errors.js";
import { LogRing } from "./log-ring.js";
import { MAX_NAME_LENGTH } from "./names.js";
import { printable } from "./printable.js";

export type Level = "debug" | "info" | "warn" | "error";
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const paint: Record<Level, (s: string) => string> = { debug: chalk.gray, info: chalk.cyan, warn: chalk.yellow, error: chalk.red };

export interface LogOptions {
  /** Lines below this level are skipped everywhere. */
  level: Level;
  /** Folder of the log files; null: no file. */
  dir: string | null;
  /** No console output. */
  quiet: boolean;
  /** Rotate the file past this many bytes, keeping `keep` old ones. */
  maxBytes: number;
  keep: number;
  /** Bytes the ring between the threads holds. */
  bufferBytes: number;
}

const env = process.env;
const options: LogOptions = {
  level: isLevel(env.LUANET_LOG_LEVEL) ? env.LUANET_LOG_LEVEL : "info",
  dir: null,
  quiet: env.LUANET_QUIET === "1",
  maxBytes: Number(env.LUANET_LOG_MAX_BYTES ?? 10 * 1024 * 1024),
  keep: Number(env.LUANET_LOG_KEEP ?? 5),
  bufferBytes: Number(env.LUANET_LOG_BUFFER ?? 4 * 1024 * 1024),
};
let minimum = rank[options.level];
/** Who writes: the service's name once it has one, else the script's. */
let source = "luanet";
let who = `${source}[${process.pid}]`;
let ring: LogRing | null = null;
/** The writer's reason if it stops; read synchronously at exit, when no event loop runs. */
let problems: MessagePort | null = null;

function isLevel(x: unknown): x is Level {
  return typeof x === "string" && x in rank;
}

/** Set by the start module from the command line; `dir` turns the log file on. */
export function configureLog(changes: Partial<LogOptions>): void {
  if (changes.level !== undefined && !isLevel(changes.level)) {
    throw new TypeError(`log level must be one of ${Object.keys(rank).join(", ")}, got ${String(changes.level)}`);
  }
  Object.assign(options, changes);
  minimum = rank[options.level];
}

export function setLogSource(name: string): void {
  source = printable(basename(name, extname(name)), MAX_NAME_LENGTH);
  who = `${source}[${process.pid}]`;
}

function fileSink(): LogRing | null {
  if (ring !== null || options.dir === null) return ring;
  ring = LogRing.create(options.bufferBytes);
  const { port1, port2 } = new MessageChannel();
  problems = port1;
  const worker = new Worker(new URL("./log-writer.js", import.meta.url), {
    workerData: { sab: ring.sab, capacity: ring.capacity, dir: resolve(options.dir), name: source, maxBytes: options.maxBytes, keep: options.keep, port: port2 },
    transferList: [port2],
  });
  port1.on("message", reportProblem);
  port1.unref(); // after on("message"), which would hold the process open again
  worker.unref();
  process.on("exit", flushLog);
  return ring;
}

/** Wait until every line is on disk (the exit handler; also for tests). */
export function flushLog(): void {
  if (ring === null) return;
  const complete = ring.drain(5000);
  for (let m; (m = problems !== null ? receiveMessageOnPort(problems) : undefined);) reportProblem(m.message as string);
  if (!complete) process.stderr.write(`[luanet] ERROR ${ring.pending()} bytes of log lines could not be written before exit\n`);
}

function reportProblem(problem: string): void {
  process.stderr.write(`[luanet] ERROR ${problem}\n`);
}

/** The time stamp, rebuilt at most once per millisecond. */
let stampMs = 0;
let stamp = "";
function now(): string {
  const ms = Date.now();
  if (ms !== stampMs) {
    stampMs = ms;
    stamp = new Date(ms).toISOString();
  }
  return stamp;
}

const fileTag: Record<Level, string> = { debug: " DEBUG ", info: " INFO  ", warn: " WARN  ", error: " ERROR " };
const consoleTag: Record<Level, string> = { debug: "DEBUG", info: "INFO", warn: "WARN", error: "ERROR" };

/** Longest string one message or field contributes to a line (characters); the rest is cut. */
export const MAX_LOGGED_STRING = 8192;

/**
 * A field's text. Every string that reaches a line is escaped (printable.ts), so one entry is
 * one line whatever a peer put in a name or message, and reading a field never throws: an Error
 * is read through `thrown`, anything JSON cannot print through table2str.
 */
function fieldText(fields: Record<string, unknown>): { inline: string; stack: string } {
  let inline = "";
  let stack = "";
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const value = fields[key];
    const name = printable(key, MAX_NAME_LENGTH);
    if (typeof value === "number" || typeof value === "boolean") {
      inline += ` ${name}=${value}`;
    } else if (isError(value)) {
      const e = thrown(value);
      for (const line of (e.stack ?? `Error: ${e.message}`).split("\n")) stack += "\n  " + printable(line.trim(), MAX_LOGGED_STRING);
    } else {
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch {
        // a cycle, a BigInt, a throwing getter or toJSON
      }
      inline += ` ${name}=${printable(text ?? table2str(value, { maxLength: MAX_LOGGED_STRING }), MAX_LOGGED_STRING)}`;
    }
  }
  return { inline, stack };
}

function write(level: Level, message: string, fields?: Record<string, unknown>): void {
  if (rank[level] < minimum) return;
  const { inline, stack } = fields === undefined ? { inline: "", stack: "" } : fieldText(fields);
  const text = `${printable(typeof message === "string" ? message : table2str(message, { maxLength: MAX_LOGGED_STRING }), MAX_LOGGED_STRING)}${inline}${stack}`;
  const sink = fileSink();
  if (sink !== null) {
    if (sink.dropped > 0 && sink.push(`${now()} WARN  ${who} ${sink.dropped} log lines were dropped: the log writer was stuck\n`)) sink.dropped = 0;
    sink.push(`${now()}${fileTag[level]}${who} ${text}\n`);
  }
  if (!options.quiet) {
    const tag = consoleTag[level];
    process.stderr.write(`[luanet] ${process.stderr.isTTY ? paint[level](tag) : tag} ${text}\n`);
  }
}

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * @example
 * luanet.log.info("player joined", { id: 42, room: "lobby" })
 * luanet.log.error("save failed", { error })   // an Error field brings its stack
 */
export const log: Logger = {
  debug: (message, fields) => write("debug", message, fields),
  info: (message, fields) => write("info", message, fields),
  warn: (message, fields) => write("warn", message, fields),
  error: (message, fields) => write("error", message, fields),
};

/** Log `what` as an error with whatever was thrown: an Error brings its stack; anything else
 * is described, and reading it never throws (errors.ts `thrown`). @internal */
export function logThrown(what: string, error: unknown): void {
  if (isError(error)) log.error(what, { error });
  else log.error(`${what}: ${thrown(error).message}`);
}

/**
 * A warning about something that may happen thousands of times a second (dropped datagrams,
 * refused connections): the returned function counts one, and a second after the first of a
 * batch a single line reports how many there were.
 */
export function warnEverySecond(message: (count: number) => string): () => void {
  let count = 0;
  return () => {
    if (count++ > 0) return;
    setTimeout(() => {
      log.warn(message(count));
      count = 0;
    }, 1000).unref();
  };
}
