/**
 * The user's files a script imports, found by reading them (never running them): what `luanet up
 * --watch` watches for a service until its first reload reports the exact graph (reload.ts).
 * Relative and absolute specifiers of `import`, `export ... from`, `import()` and `require()`,
 * resolved as tsx does (`./contract.js` may be contract.ts); packages (bare specifiers) are not
 * the user's code to watch. Bounded: at most MAX_FILES files, each read up to MAX_BYTES.
 * @internal
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

const MAX_FILES = 500;
const MAX_BYTES = 1 << 20;
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"'\n]+)["']/g;
const SWAPS: Record<string, string[]> = { ".js": [".ts", ".tsx"], ".mjs": [".mts"], ".cjs": [".cts"], ".jsx": [".tsx"] };
const ADDED = [".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", "/index.ts", "/index.js"];

/** `script` and the user's files it imports, directly or not. */
export function importedFiles(script: string): Set<string> {
  const files = new Set<string>();
  const todo = [script];
  while (todo.length > 0 && files.size < MAX_FILES) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const specifier of specifiers(read(file))) {
      if (!specifier.startsWith(".") && !specifier.startsWith("/")) continue;
      const found = resolveFile(resolve(dirname(file), specifier));
      if (found !== null && !found.includes("/node_modules/")) todo.push(found);
    }
  }
  return files;
}

function read(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return "";
  }
  try {
    const buffer = Buffer.alloc(Math.min(MAX_BYTES, statSync(file).size));
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

function* specifiers(source: string): Generator<string> {
  for (const match of source.matchAll(SPECIFIER)) yield match[1]!;
}

const isFile = (path: string): boolean => existsSync(path) && statSync(path).isFile();

function resolveFile(path: string): string | null {
  if (isFile(path)) return path;
  const ext = /\.[cm]?jsx?$/.exec(path)?.[0];
  if (ext !== undefined) for (const to of SWAPS[ext] ?? []) if (isFile(path.slice(0, -ext.length) + to)) return path.slice(0, -ext.length) + to;
  for (const add of ADDED) if (isFile(path + add)) return path + add;
  return null;
}
