/**
 * `luanet dashboard [--listen 127.0.0.1:8080]`: one web page showing the cluster live. One loop
 * samples every registered service's luanet.stats each interval, as `luanet top` does (top.ts),
 * and sends every connected page the same document over Server-Sent Events (plain HTTP, which a
 * browser reconnects by itself): the rows of top (rates.ts rowOf) and who calls whom (edgesOf).
 * A page asks /api/tasks/<name> for a service's task dump when it is clicked.
 *
 *   GET /             the page (dashboard-page.ts)
 *   GET /uplot.js     uPlot (the charts), from the installed package: the page needs no internet
 *   GET /uplot.css
 *   GET /events       text/event-stream: `data: <document>` each interval, the last one at once
 *   GET /api/state    the last document, as JSON
 *   GET /api/tasks/N  service N's luanet.tasks document (at most 500 tasks), or { error }
 *
 * Bounded: at most MAX_STREAMS pages at once and MAX_TASK_ASKS task dumps in flight (503 past
 * them), and a page that does not read its stream is dropped once STREAM_BACKLOG bytes wait for it.
 * @internal
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { NetAddr } from "../../stdlib/net.js";
import { ErrorCode } from "../errors.js";
import { badName } from "../names.js";
import { printable } from "../printable.js";
import { runtime } from "../process.js";
import { Await, Sleep } from "../scheduler/index.js";
import type { Instruction } from "../scheduler/instruction.js";
import { spawnNamed } from "../scheduler/spawn.js";
import { RPCCall } from "../service/api.js";
import { TASKS_FUNCTION, type TasksDocument } from "../service/reserved.js";
import { fail } from "../tools.js";
import { PAGE } from "./dashboard-page.js";
import { listenHttp } from "./http-listen.js";
import { edgesOf, type Edge, type TopRow } from "./rates.js";
import { DEFAULT_INTERVAL_MS, DEFAULT_TIMEOUT_MS, rows, sample, type Sample } from "./top.js";

export interface DashboardFlags {
  listen: NetAddr;
  interval?: number;
  timeout?: number;
}

/** What every page gets each interval. */
export interface DashboardDocument {
  time: number;
  interval: number;
  /** The registry's address. */
  where: string;
  services: TopRow[];
  edges: Edge[];
  /** Why the registry could not be read this time (the last services are kept). */
  error: string | null;
}

const MAX_STREAMS = 32;
const MAX_TASK_ASKS = 8;
const STREAM_BACKLOG = 1024 * 1024;
const TASKS_LIMIT = 500;
const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)(:\d+)?$/i;

function assets(): Record<string, [type: string, body: string | Buffer]> {
  const require = createRequire(import.meta.url);
  return {
    "/": ["text/html; charset=utf-8", PAGE],
    "/uplot.js": ["text/javascript; charset=utf-8", readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"))],
    "/uplot.css": ["text/css; charset=utf-8", readFileSync(require.resolve("uplot/dist/uPlot.min.css"))],
  };
}

/** The HTTP side: the pages' streams, and the last document for those that connect. */
class DashboardServer {
  private readonly streams = new Set<ServerResponse>();
  private last: string | null = null;
  private asking = 0;
  private loopback = true;
  readonly server: Server;
  private readonly files = assets();

  constructor(private readonly timeout: number) {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.headersTimeout = 5_000;
    this.server.requestTimeout = 0; // (the event streams are long requests)
    this.server.maxConnections = MAX_STREAMS + 32;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // Listening on loopback, only a request for a loopback name is served: a web page whose own
    // host name an attacker points at 127.0.0.1 (DNS rebinding) cannot read the task dumps.
    if (this.loopback && !LOOPBACK_HOST.test(req.headers.host ?? "")) {
      return void res.writeHead(421, { "content-type": "text/plain" }).end("the dashboard answers only requests for 127.0.0.1, [::1] or localhost\n");
    }
    const path = (req.url ?? "/").split("?")[0]!;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return void res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET\n");
    }
    const file = this.files[path];
    if (file !== undefined) return void res.writeHead(200, { "content-type": file[0], "cache-control": "no-cache" }).end(file[1]);
    if (path === "/events") return this.stream(res);
    if (path === "/api/state") return json(res, 200, this.last ?? "null");
    if (path.startsWith("/api/tasks/")) return this.tasks(path.slice("/api/tasks/".length), res);
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }

  private stream(res: ServerResponse): void {
    if (this.streams.size >= MAX_STREAMS) return json(res, 503, JSON.stringify({ error: `at most ${MAX_STREAMS} pages at once` }));
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    if (this.last !== null) res.write(`data: ${this.last}\n\n`);
    this.streams.add(res);
    res.on("close", () => this.streams.delete(res));
  }

  private tasks(encoded: string, res: ServerResponse): void {
    let name: string;
    try {
      name = decodeURIComponent(encoded);
    } catch {
      return json(res, 400, JSON.stringify({ error: "the service name is not valid percent-encoding" }));
    }
    const bad = badName(name);
    if (bad !== null) return json(res, 400, JSON.stringify({ error: `not a service name: ${bad}` }));
    if (this.asking >= MAX_TASK_ASKS) return json(res, 503, JSON.stringify({ error: `${MAX_TASK_ASKS} task dumps are being asked for already` }));
    this.asking++;
    const self = this;
    spawnNamed("dashboard tasks", function* () {
      try {
        const [doc, err] = yield* RPCCall<TasksDocument>(runtime.root, name, TASKS_FUNCTION, { limit: TASKS_LIMIT }, { timeout: self.timeout });
        json(res, err === null ? 200 : 502, JSON.stringify(err === null ? doc : { error: `${err.code}: ${err.message}` }));
      } finally {
        self.asking--;
        if (!res.headersSent) json(res, 503, JSON.stringify({ error: "the dashboard is stopping" }));
      }
    }, [], runtime.root);
  }

  /** Send `doc` to every page; one that has not read the last STREAM_BACKLOG bytes is dropped. */
  publish(doc: DashboardDocument): void {
    this.last = JSON.stringify(doc);
    for (const res of this.streams) {
      if (res.writableLength > STREAM_BACKLOG) {
        res.destroy();
        this.streams.delete(res);
      } else res.write(`data: ${this.last}\n\n`);
    }
  }

  listen(addr: NetAddr): Promise<string> {
    this.loopback = addr.family === "local" || addr.ip === "127.0.0.1" || addr.ip === "::1" || addr.ip.startsWith("127.");
    return listenHttp(this.server, addr);
  }
}

function json(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-cache" }).end(body);
}

export function* dashboard(flags: DashboardFlags): Generator<Instruction, void, unknown> {
  const interval = flags.interval ?? DEFAULT_INTERVAL_MS;
  const timeout = flags.timeout ?? Math.min(DEFAULT_TIMEOUT_MS, Math.max(interval, 200));
  const server = new DashboardServer(timeout);
  let url: string;
  try {
    url = yield* Await(server.listen(flags.listen));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return fail(e.code === "EADDRINUSE" ? ErrorCode.address_in_use : ErrorCode.listen_failed, `the dashboard cannot listen: ${printable(e.message)}`);
  }
  process.stdout.write(`dashboard on ${url}\n`);
  let before: Sample | null = null;
  let services: TopRow[] = [];
  let edges: Edge[] = [];
  for (;;) {
    const now = yield* sample(timeout);
    let error: string | null = null;
    if (now instanceof Map) {
      services = rows(now, before, "name");
      edges = edgesOf(now, before);
      before = now;
    } else error = `${now.code}: ${now.message}`;
    server.publish({ time: Date.now(), interval, where: runtime.root.registry.where, services, edges, error });
    yield* Sleep(interval);
  }
}
