/**
 * The `luanet` command line: `luanet <script> [args...]`. Parsing only; the work is elsewhere.
 * @internal
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { version } from "./package-info.js";
import { start } from "./start.js";

/** Usage errors exit 2, as in most Unix tools; a script that cannot start exits 1. */
const EXIT_USAGE = 2;

export function main(argv: readonly string[]): void {
  const program = new Command("luanet")
    .description("Run a luanet service script: a cooperative task world with the luanet and Sche globals.")
    .version(version, "-V, --version", "print the luanet version")
    .helpOption("-h, --help", "show this help")
    .argument("<script>", "the script to run (.ts, .mts, .js or .mjs)")
    .argument("[args...]", "arguments for the script (luanet.args and process.argv)")
    .passThroughOptions()
    .exitOverride()
    .addHelpText("after", `
Examples:
  luanet samples/hello.ts
  luanet myservice.ts --port 8012     options after the script are the script's own`)
    .action((script: string, args: string[]) => {
      const file = resolve(script);
      if (!existsSync(file) || !statSync(file).isFile()) {
        process.stderr.write(`luanet: cannot find the script ${JSON.stringify(script)} (no file at ${file})\n`);
        process.exit(1);
      }
      start(file, args);
    });
  try {
    program.parse(argv as string[]);
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    throw error;
  }
}
