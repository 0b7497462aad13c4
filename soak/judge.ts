/**
 * How soak/run.ts judges memory, and how it prints tables.
 *
 * The memory rule ("flat after warm-up"). Each process is sampled once a second: rss, and
 * heapUsed right after a forced full GC (luanet scripts report both; the name service, a built-in
 * we cannot add code to, is sampled from /proc, rss only). For a process that lives through the
 * whole run:
 *   1. the samples of its first WARMUP (25% of the run, at least 5 s) are dropped: JIT code,
 *      connection pools and buffers are still growing to their working size then;
 *   2. the rest are cut into three equal windows; `warm` is the median of the first window and
 *      `end` the median of the last (medians, so one sample caught mid-burst does not decide);
 *   3. it passes if end - warm is at most ALLOWED_FRACTION (25%) of warm or a fixed allowance,
 *      whichever is larger: HEAP_MIB (4 MiB) for heapUsed, RSS_MIB (32 MiB) for rss.
 * In a 60 s run the two windows' middles are 30 s apart; at the soak's load (about 1,700 calls a
 * second per client), 8 MiB in 30 s is about 160 bytes per call, so a leak of one small object per
 * call fails. Measured on a quiet run, the heap after GC moves by less than 0.5 MiB and rss by
 * about 10 MiB (malloc arenas, JIT code) once warm.
 */

export const WARMUP_FRACTION = 0.25;
export const MIN_WARMUP_MS = 5000;
export const HEAP_MIB = 4;
export const RSS_MIB = 32;
export const ALLOWED_FRACTION = 0.25;
const MiB = 1024 * 1024;

export interface Sample {
  /** ms since the process's first sample */
  t: number;
  rss: number;
  /** null where it cannot be measured (the name service) */
  heapUsed: number | null;
}

export interface Growth {
  warm: number;
  end: number;
  ok: boolean;
}

export interface MemoryVerdict {
  rss: Growth | null;
  heap: Growth | null;
  /** Why it was not judged, or null. */
  skipped: string | null;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function growth(warm: number[], end: number[], allowedMiB: number): Growth {
  const w = median(warm), e = median(end);
  return { warm: w, end: e, ok: e - w <= Math.max(allowedMiB * MiB, ALLOWED_FRACTION * w) };
}

/** Apply the rule to one process's samples, for a run whose load lasted `runMs`. */
export function judgeMemory(samples: Sample[], runMs: number): MemoryVerdict {
  const warmup = Math.max(MIN_WARMUP_MS, WARMUP_FRACTION * runMs);
  const after = samples.filter((s) => s.t >= warmup);
  if (after.length < 6) return { rss: null, heap: null, skipped: `only ${after.length} samples after a ${warmup / 1000} s warm-up` };
  const third = Math.floor(after.length / 3);
  const first = after.slice(0, third), last = after.slice(after.length - third);
  const heaps = (xs: Sample[]) => xs.map((s) => s.heapUsed).filter((h): h is number => h !== null);
  return {
    rss: growth(first.map((s) => s.rss), last.map((s) => s.rss), RSS_MIB),
    heap: heaps(first).length > 0 && heaps(last).length > 0 ? growth(heaps(first), heaps(last), HEAP_MIB) : null,
    skipped: null,
  };
}

export const mib = (bytes: number): string => (bytes / MiB).toFixed(1);

/** "12.3 -> 13.0 (+0.7)" in MiB, or "-". */
export function showGrowth(g: Growth | null): string {
  if (g === null) return "-";
  const d = (g.end - g.warm) / MiB;
  return `${mib(g.warm)} -> ${mib(g.end)} (${d >= 0 ? "+" : ""}${d.toFixed(1)})`;
}

/** A plain text table: a header, a rule, and the rows, columns padded to fit. */
export function table(headers: string[], rows: string[][]): string {
  const width = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join("  ").trimEnd();
  return [line(headers), width.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
