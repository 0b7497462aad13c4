/** This copy of luanet: where it is installed, its version, and its public module map. @internal */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The package root: this file is dist/runtime/package-info.js. */
export const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

type Exports = Record<string, string | { default?: string; types?: string }>;
const pkg = JSON.parse(readFileSync(packageRoot + "package.json", "utf8")) as { version: string; exports: Exports };

export const version: string = pkg.version;

/**
 * Absolute paths of the modules a script may import: "luanet" and "luanet/net" -> the file in this
 * copy, so a script anywhere on disk imports the very modules the running CLI uses.
 */
export const publicModules: ReadonlyMap<string, string> = new Map(
  Object.entries(pkg.exports).flatMap(([subpath, target]) => {
    const file = typeof target === "string" ? undefined : target.default; // code modules, not package.json
    return file === undefined ? [] : [["luanet" + subpath.slice(1), packageRoot + file.slice(2)] as const];
  }),
);
