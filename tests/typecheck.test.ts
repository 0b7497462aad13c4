/**
 * The samples are what a newcomer copies: they must type-check against luanet's published
 * types (luanet/globals and the luanet/* modules), exactly as a user's project would.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
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

test("typed calls: a contract's broken twin fails tsc where it is wrong (a misspelt function, a wrong argument, a missing or wrongly typed implementation)", () => {
  const contract = readFileSync(join(root, "samples", "typed", "contract.ts"), "utf8");
  const dir = fixture({
    "contract.ts": contract,
    "bad.ts": `import type {} from "luanet/globals";
import type { Room } from "./contract.js";
export default function* () {
  const room = luanet.Client<Room>("room1");
  yield* room.Jion({ player: "ann" });
  yield* room.Join({ player: 42 });
  const [joined] = yield* room.Join({ player: "ann" });
  const seat: string = joined!.seat;
  return seat;
}
luanet.RegRPCFunctions<Room>({ Join: ({ player }) => ({ seat: player }), Say: () => {}, Players: () => [] });
luanet.RegRPCFunctions<Room>({ Join: () => ({ seat: 1 }), Say: () => {} });
`,
    "tsconfig.json": JSON.stringify({
      extends: join(root, "samples", "tsconfig.json"),
      include: ["bad.ts", "contract.ts"],
      compilerOptions: { rootDir: ".", typeRoots: [join(root, "node_modules", "@types")], paths: { "luanet/globals": [join(root, "globals.d.ts")] } },
    }),
  });
  const r = typecheck(dir);
  assert.notEqual(r.code, 0);
  assert.match(r.output, /bad\.ts\(5,\d+\): error TS\d+: Property 'Jion' does not exist on type 'Client<Room>'/, r.output);
  assert.match(r.output, /bad\.ts\(6,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/, r.output);
  assert.match(r.output, /bad\.ts\(8,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/, r.output);
  assert.match(r.output, /bad\.ts\(11,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/, r.output);
  assert.match(r.output, /bad\.ts\(12,\d+\): error TS2345: [^]*Property 'Players' is missing/, r.output);
});
