/**
 * The soak script's own checks (the soak itself runs in CI as `npm run soak`, not here): its
 * command line refuses bad input with a usage error, and its memory rule tells a flat process
 * from a leaking one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { judgeMemory, type Sample } from "../soak/judge.ts";
import { root, startProcess } from "./helpers/proc.ts";

const MiB = 1024 * 1024;

function soak(args: string[]) {
  return startProcess(process.execPath, ["--import", "tsx", join(root, "soak", "run.ts"), ...args]).exited(15_000);
}

test("soak: a bad --seconds is a usage error, exit 2, before anything starts", async () => {
  for (const [args, says] of [
    [["--seconds", "abc"], /--seconds must be a whole number from 20 to 86400, got "abc"/],
    [["--seconds", "5"], /got "5"/],
    [["--seconds", "1.5e2"], /got "1.5e2"/],
    [["--frobnicate"], /Unknown option '--frobnicate'/],
  ] as const) {
    const r = await soak([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, says);
    assert.match(r.stderr, /usage: npm run soak -- \[--seconds N\]/);
    assert.doesNotMatch(r.stdout, /luanet soak:/, "nothing was started");
  }
});

/** One sample a second for `seconds`, heap and rss given as functions of the second. */
function series(seconds: number, heapMiB: (s: number) => number, rssMiB: (s: number) => number): Sample[] {
  return Array.from({ length: seconds }, (_, s) => ({ t: s * 1000, heapUsed: heapMiB(s) * MiB, rss: rssMiB(s) * MiB }));
}

test("soak's memory rule: flat with noise and a warm-up passes; steady growth fails", () => {
  const noise = (s: number) => ((s * 7919) % 13) / 13; // deterministic jitter under 1 MiB
  // Grows fast during the warm-up (the first 15 s of 60), then flat with noise.
  const flat = judgeMemory(series(60, (s) => Math.min(s, 10) + 8 + noise(s), (s) => 3 * Math.min(s, 10) + 80 + 5 * noise(s)), 60_000);
  assert.equal(flat.skipped, null);
  assert.ok(flat.heap!.ok && flat.rss!.ok, JSON.stringify(flat));

  // 0.3 MiB a second of heap: about 9 MiB between the windows' middles.
  const leak = judgeMemory(series(60, (s) => 8 + 0.3 * s, () => 90), 60_000);
  assert.equal(leak.heap!.ok, false);
  assert.ok(leak.heap!.end - leak.heap!.warm > 8 * MiB);
  assert.equal(leak.rss!.ok, true);

  // rss only (the name service): 1.5 MiB a second fails, heap is not judged.
  const rss = judgeMemory(series(60, () => 0, (s) => 70 + 1.5 * s).map((x) => ({ ...x, heapUsed: null })), 60_000);
  assert.equal(rss.heap, null);
  assert.equal(rss.rss!.ok, false);

  // Too short to judge: said so, not passed silently.
  assert.match(judgeMemory(series(8, () => 8, () => 80), 8_000).skipped ?? "", /only 3 samples after a 5 s warm-up/);
});
