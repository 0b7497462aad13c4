/**
 * The shape issue 13 asked for, checked on the sources (what `grep` and `madge --circular` would
 * show): the service layer and the registries hold no module-level mutable state, the registries
 * know the service layer only through their own interfaces (nothing in registry/ imports from
 * service/), and no import cycle joins the two layers.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const runtime = join(root, "runtime");

function sources(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")).map((f) => join(folder, f));
}

/** Every relative import of `file` (static, type-only included, and dynamic), as absolute .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/g), ...text.matchAll(/import\(\s*"(\.[^"]+)"\s*\)/g)].map((m) => m[1]!);
  return specs.map((spec) => resolve(dirname(file), spec).replace(/\.js$/, ".ts"));
}

const layer = (file: string): string => relative(runtime, file).split("/")[0]!;

test("no module-level mutable state in runtime/service and runtime/registry", () => {
  const found: string[] = [];
  for (const file of [...sources(join(runtime, "service")), ...sources(join(runtime, "registry"))]) {
    readFileSync(file, "utf8").split("\n").forEach((line, i) => {
      if (/^(export )?(let|var) /.test(line) || /^(export )?const \w+(: [^=]+)? = (new (Map|Set|WeakMap|WeakSet|Array)\b|\[\])/.test(line)) found.push(`${relative(root, file)}:${i + 1}: ${line}`);
    });
  }
  assert.deepEqual(found, []);
});

test("the registries import nothing from the service layer", () => {
  const found = sources(join(runtime, "registry")).flatMap((file) => importsOf(file).filter((to) => layer(to) === "service").map((to) => `${relative(root, file)} -> ${relative(root, to)}`));
  assert.deepEqual(found, []);
});

test("no import cycle joins runtime/service and runtime/registry", () => {
  const files = sources(runtime);
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((to) => files.includes(to))]));
  // Tarjan's strongly connected components: a cycle is a component of more than one file.
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)!) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        on.delete(w);
        c.push(w);
        if (w === v) break;
      }
      if (c.length > 1) components.push(c);
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  const joined = components.filter((c) => c.some((f) => layer(f) === "service") && c.some((f) => layer(f) === "registry"));
  assert.deepEqual(joined.map((c) => c.map((f) => relative(root, f)).sort()), []);
  // The detector works on these sources: it finds the scheduler's own cycle (documented in
  // runtime/scheduler/index.ts), which stays inside the scheduler.
  assert.ok(components.some((c) => c.length > 2 && c.every((f) => layer(f) === "scheduler")), "the scheduler's documented cycle was not found");
});
