/**
 * `--metrics ADDR` (or LUANET_METRICS): the process's luanet counters in the Prometheus text
 * format at http://ADDR/metrics, with prom-client (the Prometheus client most Node services use:
 * its text format, its escaping and Node's default metrics, which luanet would otherwise copy).
 *
 * Nothing is counted twice: every luanet_* metric is read, at scrape time, from the StatsDocument
 * each service of the process answers luanet.stats with (snapshot.ts), so a scrape costs what one
 * luanet.stats call costs and a call costs nothing more. Counters keep their meaning from the
 * document: cumulative since the service started. The latency histogram is luanet's own
 * (histogram.ts), summed into Prometheus's cumulative `le` buckets at LE_SECONDS; a fine bucket
 * that straddles a bound counts on the side of its upper edge, so a bucket's count is exact to
 * within luanet's 6.25% bucket width.
 *
 * Loaded only when asked for (cli.ts imports it dynamically): a process without --metrics never
 * loads prom-client or opens a port.
 * @internal
 */
import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type MetricType } from "prom-client";
import type { NetAddr } from "../../stdlib/net.js";
import type { Runtime } from "../service/runtime.js";
import { listenHttp } from "./http-listen.js";
import { snapshot, type StatsDocument } from "./snapshot.js";

/** The `le` bounds (seconds) of luanet_rpc_duration_seconds: 100 us to a minute. */
export const LE_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The `service` label of a process's own service when it has no name (a client script). */
const UNNAMED = "(unnamed)";
/** How long one scrape's documents are reused for. */
const REUSE_MS = 100;

type Labels = Record<string, string>;
type Value = { labels: Labels; value: number };
type Read = (doc: StatsDocument, service: string) => Value[];

const perFunction = (read: (f: StatsDocument["funcs"][string]) => number): Read => (doc, service) =>
  Object.entries(doc.funcs).map(([name, f]) => ({ labels: { service, function: name }, value: read(f) }));
const perPeer = (read: (p: StatsDocument["peers"][string]) => number): Read => (doc, service) =>
  Object.entries(doc.peers).map(([name, p]) => ({ labels: { service, peer: name }, value: read(p) }));
const perService = (read: (doc: StatsDocument) => number): Read => (doc, service) => [{ labels: { service }, value: read(doc) }];

/** Every luanet_* counter and gauge: name, help, labels, and how to read it from a document. */
const SERIES: { name: string; help: string; kind: "counter" | "gauge"; labels: string[]; read: Read }[] = [
  { name: "luanet_rpc_calls_total", help: "Calls that reached the function (answered or still running)", kind: "counter", labels: ["service", "function"], read: perFunction((f) => f.calls) },
  {
    name: "luanet_rpc_errors_total", help: "Calls answered with an error, by error code", kind: "counter", labels: ["service", "function", "code"],
    read: (doc, service) => Object.entries(doc.funcs).flatMap(([name, f]) =>
      Object.entries(f.errors).map(([code, n]) => ({ labels: { service, function: name, code }, value: n }))),
  },
  { name: "luanet_rpc_in_flight", help: "Calls running or queued now", kind: "gauge", labels: ["service", "function"], read: perFunction((f) => f.inFlight) },
  { name: "luanet_rpc_unknown_calls_total", help: "Calls to functions the service does not have", kind: "counter", labels: ["service"], read: perService((d) => d.unknownCalls) },
  { name: "luanet_peer_calls_out_total", help: "Calls made to the peer", kind: "counter", labels: ["service", "peer"], read: perPeer((p) => p.callsOut) },
  { name: "luanet_peer_calls_in_total", help: "Calls received from the peer", kind: "counter", labels: ["service", "peer"], read: perPeer((p) => p.callsIn) },
  { name: "luanet_peer_messages_out_total", help: "Messages sent to the peer", kind: "counter", labels: ["service", "peer"], read: perPeer((p) => p.msgsOut) },
  { name: "luanet_peer_messages_in_total", help: "Messages received from the peer", kind: "counter", labels: ["service", "peer"], read: perPeer((p) => p.msgsIn) },
  { name: "luanet_peer_in_flight", help: "Calls to the peer waiting for replies now", kind: "gauge", labels: ["service", "peer"], read: perPeer((p) => p.inFlight) },
  { name: "luanet_peer_bytes_in_total", help: "Bytes received from the peer", kind: "counter", labels: ["service", "peer"], read: perPeer((p) => p.bytesIn) },
  { name: "luanet_peer_bytes_out_total", help: "Bytes sent to the peer", kind: "counter", labels: ["service", "peer"], read: perPeer((p) => p.bytesOut) },
  { name: "luanet_peer_reconnects_total", help: "Connections to the peer opened again after the first", kind: "counter", labels: ["service", "peer"], read: perPeer((p) => p.reconnects) },
  { name: "luanet_peer_connected", help: "1 while a connection to or from the peer is open", kind: "gauge", labels: ["service", "peer"], read: perPeer((p) => (p.connected ? 1 : 0)) },
  { name: "luanet_mailbox_length", help: "Messages waiting in the mailbox", kind: "gauge", labels: ["service"], read: perService((d) => d.mailbox.length) },
  { name: "luanet_mailbox_bytes", help: "Bytes of the messages waiting in the mailbox", kind: "gauge", labels: ["service"], read: perService((d) => d.mailbox.bytes) },
  { name: "luanet_mailbox_received_total", help: "Messages received", kind: "counter", labels: ["service"], read: perService((d) => d.mailbox.received) },
  { name: "luanet_mailbox_dropped_total", help: "Messages dropped at a full mailbox (lossy links only)", kind: "counter", labels: ["service"], read: perService((d) => d.mailbox.dropped) },
  { name: "luanet_handlers_running", help: "Handlers running now", kind: "gauge", labels: ["service"], read: perService((d) => d.handlers.running) },
  { name: "luanet_handlers_queued", help: "Calls queued for a handler now", kind: "gauge", labels: ["service"], read: perService((d) => d.handlers.queued) },
  {
    name: "luanet_tasks", help: "Live tasks, by state (suspended ones by what they wait on)", kind: "gauge", labels: ["service", "state"],
    read: (doc, service) => {
      const t = doc.tasks;
      const states: [string, number][] = [["ready", t.ready], ["running", t.running], ...Object.entries(t.waiting).map(([on, n]): [string, number] => [`waiting_${on}`, n])];
      return states.map(([state, value]) => ({ labels: { service, state }, value }));
    },
  },
];

/** The documents of one scrape, read once however many metrics ask: every collect() of a scrape
 * runs within a few ms (registry.metrics() asks them all at once). */
class Scrape {
  private docs: [string, StatsDocument][] = [];
  private taken = -Infinity;

  constructor(private readonly runtime: Runtime) {}

  all(): [string, StatsDocument][] {
    const now = performance.now();
    if (now - this.taken > REUSE_MS) {
      const info = this.runtime.processStats.info();
      this.docs = this.runtime.all().map((s) => snapshot(s, info, true)).map((d) => [d.service ?? UNNAMED, d]);
      this.taken = now;
    }
    return this.docs;
  }
}

/** The cumulative `le` counts of one function, from the non-empty buckets of its document. */
function cumulative(buckets: [number, number][]): number[] {
  const counts = LE_SECONDS.map(() => 0);
  for (const [upperMs, n] of buckets) {
    // A bucket's values are below upperMs; it counts in every le at or above that.
    const first = LE_SECONDS.findIndex((le) => upperMs / 1000 <= le * (1 + 1e-9));
    if (first >= 0) for (let i = first; i < counts.length; i++) counts[i]! += n;
  }
  return counts;
}

/** A registry holding luanet's metrics for `runtime`'s services and Node's default ones. */
export function metricsRegistry(runtime: Runtime): Registry {
  const registry = new Registry();
  const scrape = new Scrape(runtime);
  for (const s of SERIES) {
    const Kind = s.kind === "counter" ? Counter : Gauge;
    new Kind({
      name: s.name, help: s.help, labelNames: s.labels, registers: [registry],
      collect() {
        this.reset();
        for (const [service, doc] of scrape.all()) {
          for (const v of s.read(doc, service)) {
            if (this instanceof Counter) this.inc(v.labels, v.value);
            else (this as Gauge).set(v.labels, v.value);
          }
        }
      },
    });
  }
  registry.registerMetric(new LatencyHistogram(scrape));
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * luanet_rpc_duration_seconds: prom-client's Histogram counts what it observes itself; this one
 * reports the histograms luanet already keeps, so it answers from the documents instead: the
 * registry reads a histogram through getForPromString() for the text format and get() for JSON.
 */
const LATENCY = { name: "luanet_rpc_duration_seconds", help: "Latency (s) of answered calls since the service started" };

class LatencyHistogram extends Histogram {
  constructor(private readonly scrape: Scrape) {
    super({ ...LATENCY, labelNames: ["service", "function"], buckets: LE_SECONDS, registers: [] });
  }

  override get() {
    return this.getForPromString();
  }

  async getForPromString() {
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    const name = LATENCY.name;
    for (const [service, doc] of this.scrape.all()) {
      for (const [func, f] of Object.entries(doc.funcs)) {
        const labels = { service, function: func };
        const counts = cumulative(f.buckets ?? []);
        LE_SECONDS.forEach((le, i) => values.push({ labels: { ...labels, le: String(le) }, value: counts[i]!, metricName: `${name}_bucket` }));
        values.push({ labels: { ...labels, le: "+Inf" }, value: f.total.count, metricName: `${name}_bucket` });
        values.push({ labels, value: f.total.sum / 1000, metricName: `${name}_sum` });
        values.push({ labels, value: f.total.count, metricName: `${name}_count` });
      }
    }
    // (The registry writes `type` as it is: the .d.ts calls it an enum, the code uses the text.)
    return { ...LATENCY, type: "histogram" as unknown as MetricType, aggregator: "sum" as const, collect: () => undefined, values };
  }
}

export class MetricsServer {
  private constructor(private readonly server: Server, readonly url: string) {}

  /** Listen on `addr` (port 0: any free port); rejects if it cannot (address in use, say). */
  static async start(runtime: Runtime, addr: NetAddr): Promise<MetricsServer> {
    const registry = metricsRegistry(runtime);
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path !== "/metrics") return void res.writeHead(404, { "content-type": "text/plain" }).end("not found: luanet serves /metrics\n");
      if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET\n");
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? undefined : text),
        (error: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`luanet could not read its metrics: ${error.message}\n`),
      );
    });
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.maxConnections = 64;
    const url = `${await listenHttp(server, addr)}metrics`;
    server.unref();
    return new MetricsServer(server, url);
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
