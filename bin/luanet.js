#!/usr/bin/env node
// The luanet command. The runtime is TypeScript compiled into dist/ when the package is installed.
import { existsSync } from "node:fs";

const cli = new URL("../dist/runtime/cli.js", import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("luanet: the runtime is not built (no dist/): run `npm install` or `npm run build` in the luanet folder\n");
  process.exit(1);
}
const { main } = await import(cli.href);
main(process.argv);
