/**
 * The `luanet` command. A plain `luanet script.ts [args...]` (no option before the script, no
 * option variable set) runs the script at once; everything else is parsed by commander
 * (cli-commands.ts), loaded only then: commander and building the program cost some 20 ms of a
 * script's start-up.
 * @internal
 */
import { DEFAULT_LOG_DIR, DEFAULT_LOG_LEVEL, runScript } from "./cli-apply.js";

/** Every command name, commander's own `help` included: a first argument that is one goes to
 * commander, even if a file has that name. */
export const COMMANDS = new Set([
  "nameservice", "up", "run-services", "ls", "call", "send", "ps", "restart", "stop", "start", "scale", "reload",
  "stats", "tasks", "top", "dashboard", "help",
]);

/** The variables that set the script's options (as the options' `.env(...)` in cli-commands.ts):
 * with any of them set, commander reads and checks them. tests/cli.test.ts checks that both
 * lists match the commander program. */
export const OPTION_VARIABLES = [
  "LUANET_NS", "LUANET_REGISTRY", "LUANET_METRICS", "LUANET_LOG_LEVEL", "LUANET_LOG_DIR", "LUANET_QUIET",
  "LUANET_SECRET_FILE", "LUANET_TLS_CERT", "LUANET_TLS_KEY", "LUANET_TLS_CA",
];

/** The script and its arguments when the command line is a plain `luanet script [args...]` that
 * commander would run with every option at its default; null otherwise. */
function plainScript(argv: readonly string[]): { script: string; args: string[] } | null {
  const script = argv[2];
  if (script === undefined || script === "" || script.startsWith("-") || COMMANDS.has(script)) return null;
  if (OPTION_VARIABLES.some((name) => process.env[name] !== undefined)) return null;
  return { script, args: argv.slice(3) };
}

export function main(argv: readonly string[]): void {
  // Which unit of a `luanet up` this process is (cluster/scan.ts): its own, not what it starts.
  const unit = process.env.LUANET_UNIT;
  delete process.env.LUANET_UNIT;
  const plain = plainScript(argv);
  if (plain !== null) return runScript(plain.script, plain.args, { logLevel: DEFAULT_LOG_LEVEL, logDir: DEFAULT_LOG_DIR, logFile: true });
  void import("./cli-commands.js").then((commands) => commands.parseCommandLine(argv, unit));
}
