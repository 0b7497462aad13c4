/**
 * The logger: one for user scripts (`luanet.log`, `import log from "luanet/log"`) and for the
 * runtime itself. A line is formatted on the main thread and handed to a writer thread through
 * a bounded shared ring (log-ring.ts), so logging never waits for the disk unless a burst fills
 * the ring (log-sink.ts). The console gets the line too: coloured by level on a terminal, plain
 * otherwise.
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
 *
 * Names: a console line starts with `[<source>]`, the file is `<dir>/<source>.log`. The source
 * is the service's name once StartLocalService gives it; a script's entries logged before that
 * wait for it (setLogScript), so two processes of one room.ts get a file each.
 */
import { basename, extname } from "node:path";
import { chalkStderr as chalk } from "chalk";
import { table2str } from "../stdlib/table2str.js";
import { isError, thrown } from "./errors.js";
import { HeldLines } from "./log-hold.js";
import type { LogRing } from "./log-ring.js";
import { LogSink } from "./log-sink.js";
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
/** Who writes, as the console's `[<source>]` and the file's `<source>[<pid>]`: the service once
 * StartLocalService names it, before that the script, and "luanet" for the tools. */
let source = "luanet";
let who = `${source}[${process.pid}]`;
/** The log file's name (without `.log`); null while a script has not named its service, when
 * its entries wait in `held`. */
let fileName: string | null = "luanet";
/** Where held entries go if no service name comes in time: the script's name. */
let scriptName = "luanet";
const held = new HeldLines();
let holdTimer: NodeJS.Timeout | null = null;
/** The writer of the current file, started on first use. */
let sink: LogSink | null = null;
let exitHooked = false;

/** How long a script's entries wait for its service's name before they go to its own file. */
export const HOLD_MS = 2000;

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

function rename(name: string): void {
  source = printable(name, MAX_NAME_LENGTH);
  who = `${source}[${process.pid}]`;
}

/**
 * The process runs the script `file`. Until the script names its service (setLogSource) the
 * console says `[<script>]` and entries for the file are held in memory (log-hold.ts). They go
 * to `<script>.log`, and so does every entry after them, when no name has come HOLD_MS after the
 * first one, when the hold is full (1000 entries or 1 MiB), or at exit.
 */
export function setLogScript(file: string): void {
  rename(basename(file, extname(file)));
  scriptName = source;
  fileName = null;
}

/**
 * The process is the service `name` (StartLocalService) or a named built-in ("nameservice"):
 * the console says `[<name>]` and entries go to `<name>.log` (a `/` in the name written as `_`),
 * the held ones first. Entries that went to the script's file before stay there.
 */
export function setLogSource(name: string): void {
  rename(name);
  fileName = source.replaceAll("/", "_");
  if (held.size > 0) release();
}

/** From now on entries go to the file: `fileName`, or the script's if no service is named. */
function release(): void {
  if (holdTimer !== null) clearTimeout(holdTimer);
  holdTimer = null;
  fileName ??= scriptName;
  const lines = held.take(who);
  if (options.dir === null) return; // the file was turned off after they were held
  const ring = fileSink();
  for (const line of lines) ring.push(line);
}

function hookExit(): void {
  if (!exitHooked) process.on("exit", flushLog);
  exitHooked = true;
}

/** The ring to the writer of `<fileName>.log` (the file is on); a new writer if the name changed. */
function fileSink(): LogRing {
  if (sink !== null && sink.name === fileName) return sink.ring;
  sink?.close("before the log file changed to its service's name");
  sink = new LogSink(fileName ?? scriptName, { ...options, dir: options.dir! }, reportProblem);
  hookExit();
  return sink.ring;
}

/** Wait until every line is on disk, held ones included (the exit handler; also for tests). */
export function flushLog(): void {
  if (fileName === null && held.size > 0) release();
  sink?.drain("before exit");
}

function reportProblem(problem: string): void {
  process.stderr.write(`[${source}] ERROR ${problem}\n`);
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

/** `by`: the writer's source and `who` when not the process's own (another service of it). */
function write(level: Level, message: string, fields?: Record<string, unknown>, by?: { source: string; who: string }): void {
  if (rank[level] < minimum) return;
  const { inline, stack } = fields === undefined ? { inline: "", stack: "" } : fieldText(fields);
  const text = `${printable(typeof message === "string" ? message : table2str(message, { maxLength: MAX_LOGGED_STRING }), MAX_LOGGED_STRING)}${inline}${stack}`;
  if (options.dir !== null) toFile(level, text, by?.who);
  if (!options.quiet) {
    const tag = consoleTag[level];
    process.stderr.write(`[${by?.source ?? source}] ${process.stderr.isTTY ? paint[level](tag) : tag} ${text}\n`);
  }
}

function toFile(level: Level, text: string, by: string | undefined): void {
  const head = `${now()}${fileTag[level]}`;
  if (by !== undefined) {
    // Another service of the process: its lines go to the process's file, under its own name.
    if (fileName === null) release();
    return void fileSink().push(`${head}${by} ${text}\n`);
  }
  if (fileName === null) {
    if (held.add(head, text)) return holdForName();
    release(); // the hold is full: to the script's file, with this entry after the held ones
  }
  const ring = fileSink();
  if (ring.dropped > 0 && ring.push(`${now()} WARN  ${who} ${ring.dropped} log lines were dropped: the log writer was stuck\n`)) ring.dropped = 0;
  ring.push(`${head}${who} ${text}\n`);
}

function holdForName(): void {
  hookExit();
  if (holdTimer !== null) return;
  holdTimer = setTimeout(release, HOLD_MS);
  holdTimer.unref();
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
export const log: Logger = loggerOf(write);

/** A Logger whose four methods call `emit` with their level. @internal */
export function loggerOf(emit: (level: Level, message: string, fields?: Record<string, unknown>) => void): Logger {
  return {
    debug: (message, fields) => emit("debug", message, fields),
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
  };
}

/** The logger of another service of this process (luanet.NewService): its console lines say
 * `[<name>]`, its file lines `<name>[<pid>]`, in the process's log file. */
export function loggerFor(name: string): Logger {
  const src = printable(name, MAX_NAME_LENGTH);
  const by = { source: src, who: `${src}[${process.pid}]` };
  return loggerOf((level, message, fields) => write(level, message, fields, by));
}

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
