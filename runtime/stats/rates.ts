/**
 * How `luanet top` (and the dashboard) turn two luanet.stats samples of a service into one row of
 * rates: the counts in the documents are cumulative, so a rate is their difference over the time
 * between the samples. A service that restarted between them (another pid, less uptime) is rated
 * over its life so far.
 * @internal
 */
import type { StatsDocument } from "./snapshot.js";

/** What a service's row says, computed from two samples. */
export interface TopRow {
  service: string;
  host: string | null;
  pid: number | null;
  groups: string[];
  callsPerSec: number;
  errorsPerSec: number;
  /** The highest p99 (ms, over the last 10 s) of its functions, and which function that is. */
  p99: number;
  slowest: string | null;
  inFlight: number;
  mailbox: number;
  tasks: number;
  /** Of one core, over the interval; null on the first sample of a process. */
  cpu: number | null;
  rss: number;
  eventLoopP99: number;
  funcs: Record<string, { callsPerSec: number; errorsPerSec: number; p99: number; inFlight: number }>;
  /** Why there are no numbers: the error of its luanet.stats call. */
  error: string | null;
}

export const SORT_KEYS = ["name", "calls", "errors", "p99", "inflight", "mailbox", "tasks", "cpu", "rss", "loop"] as const;
export type SortKey = (typeof SORT_KEYS)[number];
const sumOf = (values: Iterable<number>) => { let n = 0; for (const v of values) n += v; return n; };
const errorsOf = (f: StatsDocument["funcs"][string]) => sumOf(Object.values(f.errors));

/** The row of `name` from its sample now and, if it is the same process, the one before. */
export function rowOf(name: string, now: StatsDocument | { error: string }, before: StatsDocument | { error: string } | undefined): TopRow {
  if ("error" in now) {
    return { service: name, host: null, pid: null, groups: [], callsPerSec: 0, errorsPerSec: 0, p99: 0, slowest: null, inFlight: 0, mailbox: 0, tasks: 0, cpu: null, rss: 0, eventLoopP99: 0, funcs: {}, error: now.error };
  }
  // A restarted service starts from nothing: its counts since start are its rate since start.
  const prev = before !== undefined && !("error" in before) && before.pid === now.pid && before.time < now.time && before.uptime <= now.uptime ? before : null;
  const seconds = prev === null ? Math.max(now.uptime, 0.001) : (now.time - prev.time) / 1000;
  const funcs: TopRow["funcs"] = {};
  let p99 = 0;
  let slowest: string | null = null;
  for (const [fname, f] of Object.entries(now.funcs)) {
    const was = prev?.funcs[fname];
    funcs[fname] = {
      callsPerSec: Math.max(0, f.calls - (was?.calls ?? 0)) / seconds,
      errorsPerSec: Math.max(0, errorsOf(f) - (was === undefined ? 0 : errorsOf(was))) / seconds,
      p99: f.recent.p99, inFlight: f.inFlight,
    };
    if (f.recent.count > 0 && (slowest === null || f.recent.p99 > p99)) [p99, slowest] = [f.recent.p99, fname];
  }
  const cpuNow = now.process.cpuUser + now.process.cpuSystem;
  const cpu = prev === null ? null : (100 * (cpuNow - prev.process.cpuUser - prev.process.cpuSystem)) / 1e6 / seconds;
  const fs = Object.values(funcs);
  return {
    service: name, host: now.host, pid: now.pid, groups: now.groups,
    callsPerSec: sumOf(fs.map((f) => f.callsPerSec)), errorsPerSec: sumOf(fs.map((f) => f.errorsPerSec)), p99, slowest,
    inFlight: sumOf(fs.map((f) => f.inFlight)), mailbox: now.mailbox.length, tasks: now.tasks.total,
    cpu: cpu === null ? null : Math.max(0, cpu), rss: now.process.rss, eventLoopP99: now.process.eventLoop.p99, funcs, error: null,
  };
}

const SORTS: Record<SortKey, (r: TopRow) => number> = {
  name: () => 0, calls: (r) => r.callsPerSec, errors: (r) => r.errorsPerSec, p99: (r) => r.p99, inflight: (r) => r.inFlight,
  mailbox: (r) => r.mailbox, tasks: (r) => r.tasks, cpu: (r) => r.cpu ?? -1, rss: (r) => r.rss, loop: (r) => r.eventLoopP99,
};

/** Highest first (by name for `name`, and among equals). */
export function sortRows(rows: TopRow[], key: SortKey): TopRow[] {
  const by = SORTS[key];
  return rows.sort((a, b) => by(b) - by(a) || a.service.localeCompare(b.service));
}


/** Who calls whom: one edge per service and peer it has called or messaged, with rates. */
export interface Edge {
  from: string;
  to: string;
  callsPerSec: number;
  msgsPerSec: number;
  /** Calls to it waiting for replies now. */
  inFlight: number;
}

type Doc = StatsDocument | { error: string };

/** The edges among the sampled services (peers that are not among them, such as the name
 * service, are left out), from each service's per-peer counts now and in its sample before. */
export function edgesOf(now: ReadonlyMap<string, Doc>, before: ReadonlyMap<string, Doc> | null): Edge[] {
  const edges: Edge[] = [];
  for (const [from, doc] of now) {
    if ("error" in doc) continue;
    const was = before?.get(from);
    const prev = was !== undefined && !("error" in was) && was.pid === doc.pid && was.time < doc.time ? was : null;
    const seconds = prev === null ? Math.max(doc.uptime, 0.001) : (doc.time - prev.time) / 1000;
    for (const [to, p] of Object.entries(doc.peers)) {
      if (to === from || !now.has(to) || p.callsOut + p.msgsOut === 0) continue;
      const q = prev?.peers[to];
      edges.push({
        from, to, inFlight: p.inFlight,
        callsPerSec: Math.max(0, p.callsOut - (q?.callsOut ?? 0)) / seconds,
        msgsPerSec: Math.max(0, p.msgsOut - (q?.msgsOut ?? 0)) / seconds,
      });
    }
  }
  return edges.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}
