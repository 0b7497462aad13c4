/**
 * `npm run bench`: every scenario in a fresh process, each luanet figure beside a reference
 * measured in the same run (these machines are noisy, so ratios are what to compare).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const node = process.execPath;

type Row = { metric: string; luanet: string; reference: string; ratio: string; target: string };
const rows: Row[] = [];
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(1));

function scenario(file: string, name: string): { value: number; reference: number } {
  const out = execFileSync(node, ["--expose-gc", "--import", "tsx", here(file), name], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop()!);
}

function add(metric: string, r: { value: number; reference: number }, refName: string, unit: string, target: string): void {
  rows.push({ metric, luanet: `${fmt(r.value)} ${unit}`, reference: `${fmt(r.reference)} ${unit} (${refName})`, ratio: (r.value / r.reference).toFixed(2), target });
}

add("spawn+finish, 1,000,000 tasks", scenario("scheduler.ts", "spawn"), "bare generators", "tasks/s", "");
add("Block/WakeUp switches, 2 tasks", scenario("scheduler.ts", "switch2"), "async/await", "/s", ">= 2M/s");
add("Block/WakeUp switches, 10,000 tasks", scenario("scheduler.ts", "switch10k"), "async/await", "/s", ">= 2M/s");
add("heap per idle blocked task, 100,000", scenario("scheduler.ts", "memory"), "bare generator", "B", "<= 1024 B");

/** Median wall time of `runs` runs of a command, alternating with the reference to share noise. */
function startup(runs: number): { value: number; reference: number } {
  const time = (args: string[]) => {
    const t0 = performance.now();
    const r = spawnSync(node, args, { encoding: "utf8" });
    if (r.status !== 0 || r.stdout.trim() !== "hello") throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
    return performance.now() - t0;
  };
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  const luanet: number[] = [], plain: number[] = [];
  time([here("../bin/luanet.js"), here("hello.ts")]); // fill tsx's transform cache, as any second run has it
  for (let i = 0; i < runs; i++) {
    luanet.push(time([here("../bin/luanet.js"), here("hello.ts")]));
    plain.push(time([here("hello.js")]));
  }
  return { value: median(luanet), reference: median(plain) };
}
const s = startup(15);
rows.push({ metric: "start-up, luanet hello.ts", luanet: `${s.value.toFixed(0)} ms`, reference: `${s.reference.toFixed(0)} ms (node hello.js)`, ratio: (s.value / s.reference).toFixed(2), target: "<= 3x" });

const cols = ["metric", "luanet", "reference", "ratio", "target"] as const;
const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
const line = (r: Record<(typeof cols)[number], string>) => cols.map((c, i) => r[c].padEnd(width[i]!)).join("  ");
console.log(line({ metric: "metric", luanet: "luanet", reference: "reference (same run)", ratio: "ratio", target: "target" }));
console.log(width.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
