/**
 * The samples are what a newcomer copies: they must type-check against luanet's published
 * types (luanet/globals and the luanet/* modules), exactly as a user's project would.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import { fixture, root } from "./helpers/proc.ts";

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

function typecheck(project: string): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, [tsc, "-p", project], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, output: r.stdout + r.stderr };
}

test("tsc --noEmit passes over the samples", () => {
  const r = typecheck(join(root, "samples"));
  assert.equal(r.code, 0, r.output);
});

test("tsc rejects a sample that misuses the API, so the check above can fail", () => {
  const dir = fixture({
    "bad.ts": `import type {} from "luanet/globals";\nexport default function* () { const n: string = yield* Sche.Block(10); return n; }\n`,
    "tsconfig.json": JSON.stringify({
      extends: join(root, "samples", "tsconfig.json"),
      include: ["bad.ts"],
      compilerOptions: { rootDir: ".", typeRoots: [join(root, "node_modules", "@types")], paths: { "luanet/globals": [join(root, "globals.d.ts")] } },
    }),
  });
  const r = typecheck(dir);
  assert.notEqual(r.code, 0);
  assert.match(r.output, /Type 'boolean' is not assignable to type 'string'/);
});
