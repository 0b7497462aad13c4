#!/usr/bin/env node
// The luanet command. The runtime is TypeScript compiled into dist/: by `npm run build` in a checkout,
// and before packing (prepack), so a registry or `npm pack` tarball install carries it.
import { existsSync } from "node:fs";

const cli = new URL("../dist/runtime/cli.js", import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("luanet: the runtime is not built (no dist/): run `npm run build` in the luanet checkout, or install luanet from the registry or an `npm pack` tarball (a git URL install is not built)\n");
  process.exit(1);
}
const { main } = await import(cli.href);
main(process.argv);
