/**
 * The runtime's logger. For now lines go to stderr synchronously; the worker-thread file logger
 * (issue 5) replaces the sink behind the same four functions.
 */
import { format } from "node:util";

export type Level = "debug" | "info" | "warn" | "error";
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let minimum: Level = (process.env.LUANET_LOG_LEVEL as Level) in rank ? (process.env.LUANET_LOG_LEVEL as Level) : "info";

export function setLevel(level: Level): void {
  if (!(level in rank)) throw new TypeError(`log level must be one of ${Object.keys(rank).join(", ")}, got ${String(level)}`);
  minimum = level;
}

function write(level: Level, message: string, fields?: Record<string, unknown>): void {
  if (rank[level] < rank[minimum]) return;
  let line = `[luanet] ${level.toUpperCase()} ${message}`;
  if (fields !== undefined) {
    for (const [key, value] of Object.entries(fields)) {
      line += value instanceof Error ? `\n${value.stack ?? value.message}` : ` ${key}=${format("%o", value)}`;
    }
  }
  process.stderr.write(line + "\n");
}

export const log = {
  debug: (message: string, fields?: Record<string, unknown>) => write("debug", message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write("info", message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write("warn", message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write("error", message, fields),
};
