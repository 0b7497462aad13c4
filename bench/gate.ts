/**
 * The gate section of `npm run bench`: players' WebSocket clients against a luanet gate
 * (bench/gate-service.ts) and against a hand-written `ws` server (bench/gate-reference.ts), in
 * the same run, the load in processes of its own (bench/gate-clients.ts), all on 127.0.0.1.
 * Every process is started through tools/procs.ts, its output read, and killed by PID when a
 * scenario ends (or fails).
 *
 *   requests   10,000 clients, each one REQUEST a second to an echoing function, for 10 s once
 *              all are connected: the server's resident memory per client, and request latency
 *   broadcast  1,000 clients in one channel on each server, broadcasts as fast as they are
 *              received, a window of them in flight, the servers taking turns in short phases:
 *              receipts per second over all clients, and the server's CPU time per receipt
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ProcessGroup, rssOf, type Child } from "../tools/procs.ts";

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const group = new ProcessGroup({ maxOutput: 1024 * 1024 });
const node = process.execPath;
const tsx = ["--import", "tsx"];

export type Server = "luanet" | "reference";

/** Start a gate (with its name service) or the reference; resolves with it and its ws URL. */
async function startServer(kind: Server): Promise<{ server: Child; url: string }> {
  let server: Child;
  if (kind === "luanet") {
    const ns = group.luanet(["nameservice", "--listen", "127.0.0.1:0"]);
    const [, nsPort] = await ns.waitFor(/nameservice listening on 127\.0\.0\.1:(\d+)/, 20_000, "stderr");
    server = group.luanet([here("gate-service.ts")], { env: { LUANET_NS: `127.0.0.1:${nsPort}`, LUANET_LOG_LEVEL: "warn" } });
  } else {
    server = group.start(node, [...tsx, here("gate-reference.ts")], { label: "gate-reference" });
  }
  const [, port] = await server.waitFor(/port (\d+)/, 20_000);
  return { server, url: `ws://127.0.0.1:${port}/` };
}

/** Start `loads` load processes sharing `clients`; resolves once every one has connected all of its own. */
async function startLoads(args: (count: number, batch: number) => string[], clients: number, loads: number, env: NodeJS.ProcessEnv = {}): Promise<Child[]> {
  // The processes connect at once, in batches of 500 between them: the listen backlog (511) is never overrun.
  const batch = Math.ceil(500 / loads);
  const children = Array.from({ length: loads }, (_, i) => {
    const count = Math.floor(clients / loads) + (i < clients % loads ? 1 : 0);
    return group.start(node, [...tsx, here("gate-clients.ts"), ...args(count, batch)], { label: `gate-clients ${i}`, env });
  });
  await Promise.all(children.map((c) => c.waitFor(/^connected \d+$/m, 90_000)));
  return children;
}

/** Signal every load process to begin (they wait for SIGUSR2), and parse the JSON each prints last. */
async function results<T>(children: Child[], ms: number): Promise<T[]> {
  for (const c of children) process.kill(c.pid, "SIGUSR2");
  return Promise.all(children.map(async (c) => {
    const exit = await c.exited(ms);
    if (exit.code !== 0) throw new Error(`${c.label} failed (${exit.code ?? exit.signal}):\n${c.describe()}`);
    return JSON.parse(exit.stdout.trim().split("\n").pop()!) as T;
  }));
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RequestFigures {
  /** (rss with every client connected - rss before) / clients, bytes. */
  rssPerClient: number;
  /** Request latency, ms. */
  p50: number;
  p99: number;
  /** Replies per second over the run. */
  rate: number;
}

/** The soft limit on open files of a process started here (`ulimit -n`), or Infinity. */
function fileLimit(): number {
  const out = execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  return out === "unlimited" ? Infinity : Number(out);
}

/** `clients` clients in `loads` processes, one request a second each for `seconds`. */
export async function gateRequests(kind: Server, clients: number, seconds: number, loads = 2): Promise<RequestFigures> {
  // The server holds a descriptor per client, and a load process one per client of its own.
  const limit = fileLimit();
  if (limit < clients + 1000) throw new Error(`the gate benchmark needs ${clients + 1000} open files per process for ${clients} clients, and ulimit -n is ${limit}: raise it (ulimit -n ${clients + 1000})`);
  try {
    const { server, url } = await startServer(kind);
    await pause(1000);
    const before = rssOf(server.pid)!;
    const children = await startLoads((count, batch) => ["requests", url, String(count), String(seconds), String(batch)], clients, loads);
    await pause(1000);
    const after = rssOf(server.pid)!;
    const figures = await results<{ sent: number; replies: number; hist: [number, number][] }>(children, (seconds + 20) * 1000);
    // The load processes' latency histograms (10 µs buckets), merged.
    const hist = new Map<number, number>();
    for (const f of figures) for (const [bucket, n] of f.hist) hist.set(bucket, (hist.get(bucket) ?? 0) + n);
    const buckets = [...hist].sort((a, b) => a[0] - b[0]);
    const total = buckets.reduce((sum, [, n]) => sum + n, 0);
    const quantile = (q: number) => {
      let seen = 0;
      for (const [bucket, n] of buckets) if ((seen += n) > q * total) return bucket / 100;
      return buckets[buckets.length - 1]![0] / 100;
    };
    return { rssPerClient: (after - before) / clients, p50: quantile(0.5), p99: quantile(0.99), rate: total / seconds };
  } finally {
    await group.kill9All();
  }
}

export interface BroadcastFigures {
  /** Receipts per second over all clients. */
  rate: number;
  /** The server's CPU time per receipt, µs: steadier than the rate on a shared machine. */
  cpuPerReceipt: number;
}

/**
 * `clients` clients in one channel on each server (both up, and one load process), broadcasts
 * with `window` in flight; the servers take turns, `phases` phases of `ms` each (bench/gate-clients.ts).
 */
export async function gateBroadcast(clients: number, ms: number, phases: number, window: number): Promise<Record<Server, BroadcastFigures>> {
  try {
    const luanet = await startServer("luanet"), reference = await startServer("reference");
    const env = { SERVER_PIDS: `${luanet.server.pid},${reference.server.pid}` };
    const children = await startLoads((count, batch) => ["broadcast", `${luanet.url},${reference.url}`, String(count), String(ms), String(phases), String(batch), String(window)], clients, 1, env);
    const [l, r] = (await results<BroadcastFigures[]>(children, 120_000))[0]!;
    return { luanet: l!, reference: r! };
  } finally {
    await group.kill9All();
  }
}
