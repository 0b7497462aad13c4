/**
 * What the command line's options do, apart from commander (cli-commands.ts parses them), so that
 * a plain `luanet script.ts` can run a script without loading it (cli.ts).
 * @internal
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { formatAddr, type NetAddr } from "../stdlib/net.js";
import { onShutdown, shutdown } from "./lifecycle.js";
import { configureLog, log, setLogScript, type Level } from "./log.js";
import { runtime } from "./process.js";
import type { RegistrySpec } from "./registry/select.js";
import { security, SecurityConfigError } from "./security/settings.js";
import { start } from "./start.js";

/** A service's (and a script's) log level and folder when neither option nor variable says. */
export const DEFAULT_LOG_LEVEL: Level = "info";
export const DEFAULT_LOG_DIR = "logs";

export interface RegistryFlags {
  ns?: NetAddr;
  registry?: RegistrySpec | "";
}

export function applyRegistry(options: RegistryFlags): void {
  if (options.registry) runtime.registries.pin(options.registry);
  else if (options.ns !== undefined) runtime.registries.pin({ kind: "nameservice", addr: options.ns });
}

export interface LogFlags {
  logLevel: Level;
  logDir?: string;
  logFile: boolean;
  quiet?: boolean;
}

export function applyLogOptions(flags: LogFlags): void {
  configureLog({ level: flags.logLevel, dir: flags.logFile && flags.logDir !== undefined ? flags.logDir : null, quiet: flags.quiet === true });
}

export interface SecurityFlags {
  secretFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** Hand the options to security/settings.ts through the environment (child processes inherit
 * them), and read them now so a bad one stops the process before it does anything. */
export function applySecurity(flags: SecurityFlags): void {
  const env = { LUANET_SECRET_FILE: flags.secretFile, LUANET_TLS_CERT: flags.tlsCert, LUANET_TLS_KEY: flags.tlsKey, LUANET_TLS_CA: flags.tlsCa };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value;
  try {
    for (const warning of security().warnings) log.warn(warning);
  } catch (error) {
    if (!(error instanceof SecurityConfigError)) throw error;
    process.stderr.write(`luanet: ${error.message}\n`);
    process.exit(1);
  }
}

/** `--metrics`: serve /metrics once the script has started; an address it cannot listen on ends
 * the process (exit 1), as a bad option would. prom-client is loaded only here. */
function serveMetrics(addr: NetAddr): void {
  import("./stats/metrics.js").then((m) => m.MetricsServer.start(runtime, addr)).then((server) => {
    log.info(`metrics on ${server.url}`);
    onShutdown(() => server.close());
  }, (error: Error) => {
    process.stderr.write(`luanet: --metrics ${formatAddr(addr)}: cannot listen: ${error.message}\n`);
    shutdown(1);
  });
}

export type ScriptFlags = RegistryFlags & LogFlags & SecurityFlags & { metrics?: NetAddr };

/** `luanet [options] script [args...]`: check the script is a file, apply the options, run it. */
export function runScript(script: string, args: string[], options: ScriptFlags): void {
  const file = resolve(script);
  if (!existsSync(file) || !statSync(file).isFile()) {
    process.stderr.write(`luanet: cannot find the script ${JSON.stringify(script)} (no file at ${file})\n`);
    process.exit(1);
  }
  applyLogOptions(options);
  setLogScript(file);
  applySecurity(options);
  applyRegistry(options);
  start(file, args);
  if (options.metrics !== undefined) serveMetrics(options.metrics);
}
