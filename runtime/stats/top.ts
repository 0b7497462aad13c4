/**
 * `luanet top`: every registered service's luanet.stats, sampled each interval, one row a
 * service. Counts in the documents are cumulative, so rates are the difference of two samples
 * over the time between them: `--once` samples twice, an interval apart, and prints one table
 * (or with --json one document); on a terminal it redraws every interval until q or Ctrl-C, and
 * a key changes the sort. Not on a terminal, it behaves as --once.
 *
 * A service that does not answer (gone, or a luanet from before stats) gets a row saying why; it
 * does not stop the others'.
 * @internal
 */
import { ErrorCode } from "../errors.js";
import { shutdown } from "../lifecycle.js";
import { cell, printable, printableJson } from "../printable.js";
import { runtime } from "../process.js";
import type { Instruction } from "../scheduler/instruction.js";
import { Sleep, Spawn } from "../scheduler/index.js";
import { RPCCall } from "../service/api.js";
import { STATS_FUNCTION } from "../service/reserved.js";
import { fail, table } from "../tools.js";
import { bytes, ms, rate } from "./format.js";
import { rowOf, sortRows, type SortKey, type TopRow } from "./rates.js";
import type { StatsDocument } from "./snapshot.js";

export interface TopFlags {
  once?: boolean;
  json?: boolean;
  sort?: SortKey;
  /** Between samples (ms). */
  interval?: number;
  /** How long each service may take to answer (ms). */
  timeout?: number;
}

/** The key that picks each sort in the live view. */
const SORT_BY_KEY: Record<string, SortKey> = { n: "name", c: "calls", e: "errors", p: "p99", i: "inflight", m: "mailbox", t: "tasks", u: "cpu", r: "rss", l: "loop" };

export type Sample = Map<string, StatsDocument | { error: string }>;

/** Every registered service's stats, asked of all of them at once; the registry's error if it
 * could not list them. (Shared with the dashboard.) */
export function* sample(timeout: number): Generator<Instruction, Sample | { code: string; message: string }, unknown> {
  const self = runtime.root;
  let names: string[];
  try {
    names = (yield* self.registry.list(self.config.rpcTimeout)).map((s) => s.name);
  } catch (error) {
    return { code: (error as { code?: string }).code ?? ErrorCode.unavailable, message: (error as Error).message };
  }
  const asks = names.map((name) => Spawn(function* () {
    const [doc, err] = yield* RPCCall<StatsDocument>(self, name, STATS_FUNCTION, null, { timeout });
    return err === null ? doc : { error: `${err.code}: ${err.message}` };
  }));
  const out: Sample = new Map();
  for (const [i, ask] of asks.entries()) out.set(names[i]!, yield* ask);
  return out;
}

/** sample(), or null having said why the registry could not be read. */
function* sampleOrFail(timeout: number): Generator<Instruction, Sample | null, unknown> {
  const got = yield* sample(timeout);
  if (got instanceof Map) return got;
  fail(got.code, got.message);
  return null;
}

export const DEFAULT_INTERVAL_MS = 1000;
export const DEFAULT_TIMEOUT_MS = 2000;

export function rows(now: Sample, before: Sample | null, key: SortKey): TopRow[] {
  return sortRows([...now].map(([name, doc]) => rowOf(name, doc, before?.get(name))), key);
}

const CELL = 40;

export function formatTop(rows: TopRow[]): string {
  return table(
    ["SERVICE", "CALLS/S", "ERRORS/S", "P99", "SLOWEST", "IN FLIGHT", "MAILBOX", "TASKS", "CPU", "RSS", "LOOP P99", "HOST", "PID"],
    rows.map((r) => (r.error !== null ? [r.service, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", r.error] : [
      r.service, rate(r.callsPerSec), rate(r.errorsPerSec), r.slowest === null ? "-" : ms(r.p99), r.slowest ?? "-", String(r.inFlight),
      String(r.mailbox), String(r.tasks), r.cpu === null ? "-" : `${r.cpu.toFixed(1)}%`, bytes(r.rss), ms(r.eventLoopP99), r.host ?? "-", String(r.pid),
    ]).map((text) => cell(text, CELL))),
  );
}

export function* top(flags: TopFlags) {
  const interval = flags.interval ?? DEFAULT_INTERVAL_MS;
  const timeout = flags.timeout ?? Math.min(DEFAULT_TIMEOUT_MS, Math.max(interval, 200));
  let key: SortKey = flags.sort ?? "calls";
  const live = flags.once !== true && flags.json !== true && process.stdout.isTTY === true;
  let before = yield* sampleOrFail(timeout);
  if (before === null) return;
  if (live) watchKeys((k) => void (key = k));
  for (;;) {
    yield* Sleep(interval);
    const now = yield* sampleOrFail(timeout);
    if (now === null) return;
    const shown = rows(now, before, key);
    if (!live) {
      if (flags.json === true) process.stdout.write(printableJson(JSON.stringify({ time: Date.now(), interval, services: shown }, null, 2)) + "\n");
      else process.stdout.write(shown.length === 0 ? `no service is registered in ${runtime.root.registry.where}\n` : formatTop(shown));
      return;
    }
    const width = process.stdout.columns ?? 200;
    const lines = formatTop(shown).split("\n").map((line) => line.slice(0, width));
    const head = `luanet top  ${shown.length} services in ${printable(runtime.root.registry.where)}  every ${interval} ms  sorted by ${key}` +
      `  (${Object.entries(SORT_BY_KEY).map(([k, s]) => `${k} ${s}`).join(", ")}; q quits)`;
    process.stdout.write(`\x1b[H\x1b[2J${head.slice(0, width)}\n\n${lines.join("\n")}`);
    before = now;
  }
}

/** On a terminal: each key of SORT_BY_KEY changes the sort; q and Ctrl-C quit. */
function watchKeys(sortBy: (key: SortKey) => void): void {
  const stdin = process.stdin;
  if (stdin.isTTY !== true) return;
  stdin.setRawMode(true);
  stdin.resume();
  process.on("exit", () => stdin.isTTY && stdin.setRawMode(false));
  stdin.on("data", (data: Buffer) => {
    const k = data.toString("utf8");
    if (k === "q" || k === "\x03") {
      stdin.setRawMode(false);
      stdin.pause();
      // q is a normal end (exit 0); Ctrl-C, which raw mode hands over as a key, an interrupt (130).
      if (k === "q") shutdown(0);
      else process.kill(process.pid, "SIGINT");
    } else if (SORT_BY_KEY[k] !== undefined) sortBy(SORT_BY_KEY[k]!);
  });
  stdin.unref();
}
