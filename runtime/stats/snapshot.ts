/**
 * The document `luanet.stats` answers (docs/protocol.md, "Stats and task dumps"): a service's
 * counters (counters.ts) read out, with what is computed only on request: percentiles, the task
 * census, its queues, and the process's memory, CPU time and event-loop delay. Every count is
 * cumulative since the service started, so a reader's two samples give rates.
 * @internal
 */
import { hostName } from "../host.js";
import type { Instance } from "../service/instance.js";
import type { Service } from "../service/service.js";
import { bucketTop, BUCKETS, WINDOW_SECONDS, type Histogram, type Latency } from "./histogram.js";
import type { ProcessInfo } from "./process-stats.js";
import { census, tasksOf, type TaskCensus } from "./tasks.js";

export const STATS_VERSION = 1;

export interface FuncStats {
  /** Calls that reached the function (answered or still running). */
  calls: number;
  /** Answered with an error, by code ("expired": dropped from the queue, its caller gone). */
  errors: Record<string, number>;
  /** Running or queued now. */
  inFlight: number;
  /** Latency (ms) of the calls answered in the last `WINDOW_SECONDS` s, and since start. */
  recent: Latency;
  total: Latency;
  /** With `{ histogram: true }`: since start, [upper bound in ms, calls] of every non-empty bucket. */
  buckets?: [number, number][];
}

export interface PeerStats {
  callsOut: number;
  callsIn: number;
  msgsOut: number;
  msgsIn: number;
  /** Calls to it waiting for replies now. */
  inFlight: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections opened to it, and how many of those were re-openings. */
  connects: number;
  reconnects: number;
  /** Whether a connection to or from it is open now. */
  connected: boolean;
}

export interface StatsDocument {
  v: typeof STATS_VERSION;
  service: string | null;
  host: string;
  pid: number;
  instance: Instance | null;
  groups: string[];
  /** Date.now() when taken, and seconds since the service started. */
  time: number;
  uptime: number;
  /** False when the process runs with LUANET_STATS=off: funcs are then empty. */
  counting: boolean;
  /** Seconds `recent` covers. */
  window: number;
  funcs: Record<string, FuncStats>;
  /** Calls to functions it does not have. */
  unknownCalls: number;
  peers: Record<string, PeerStats>;
  mailbox: { length: number; bytes: number; received: number; dropped: number; maxLength: number; maxBytes: number };
  handlers: { running: number; queued: number; queuedBytes: number; maxRunning: number; maxQueued: number };
  tasks: TaskCensus;
  process: ProcessInfo;
}

function buckets(h: Histogram): [number, number][] {
  const out: [number, number][] = [];
  for (let b = 0; b < BUCKETS; b++) {
    const n = h.counts[b]!;
    if (n > 0) out.push([(bucketTop(b) + 1) / 1000, n]);
  }
  return out;
}

export function snapshot(service: Service, process: ProcessInfo, histogram: boolean): StatsDocument {
  const now = performance.now();
  const counters = service.counters;
  const funcs: Record<string, FuncStats> = {};
  for (const f of counters.funcs.values()) {
    const total = f.latency.total;
    const entry: FuncStats = {
      calls: f.calls, errors: Object.fromEntries(f.errors), inFlight: f.inFlight,
      recent: f.latency.recent(now).latency(), total: total.latency(),
    };
    if (histogram) entry.buckets = buckets(total);
    funcs[f.name] = entry;
  }
  const open = new Map<string, { bytesIn: number; bytesOut: number }>();
  for (const conn of service.runtime.links.where((c) => c.service === service && c.counters !== null)) {
    const o = open.get(conn.counters!.name) ?? { bytesIn: 0, bytesOut: 0 };
    o.bytesIn += conn.link.bytesIn;
    o.bytesOut += conn.link.bytesOut;
    open.set(conn.counters!.name, o);
  }
  const inFlight = new Map<string, number>();
  for (const peer of service.peers.all()) inFlight.set(peer.counters.name, (inFlight.get(peer.counters.name) ?? 0) + peer.pending);
  const peers: Record<string, PeerStats> = {};
  for (const p of counters.peers.values()) {
    const o = open.get(p.name);
    peers[p.name] = {
      callsOut: p.callsOut, callsIn: p.callsIn, msgsOut: p.msgsOut, msgsIn: p.msgsIn, inFlight: inFlight.get(p.name) ?? 0,
      bytesIn: p.bytesIn + (o?.bytesIn ?? 0), bytesOut: p.bytesOut + (o?.bytesOut ?? 0),
      connects: p.connects, reconnects: Math.max(0, p.connects - 1), connected: o !== undefined || service.runtime.local(p.name) !== undefined,
    };
  }
  const mailbox = service.mailbox;
  const config = service.config;
  const queue = service.dispatcher.queue;
  return {
    v: STATS_VERSION, service: service.named, host: hostName(), pid: process.pid, instance: service.instance,
    groups: [...service.membership.groups], time: Date.now(), uptime: Math.round((Date.now() - service.started) / 100) / 10,
    counting: counters.counting, window: WINDOW_SECONDS, funcs, unknownCalls: counters.unknownCalls, peers,
    mailbox: { length: mailbox.length, bytes: mailbox.bytes, received: mailbox.received, dropped: mailbox.dropped, maxLength: config.mailboxLength, maxBytes: config.mailboxBytes },
    handlers: { ...queue, maxRunning: config.maxConcurrentHandlers, maxQueued: config.handlerQueue },
    tasks: census(tasksOf(service)),
    process,
  };
}
