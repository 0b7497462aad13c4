/**
 * Prometheus metrics (issue 16, item 4): a Plus server run with LUANET_METRICS serves /metrics in
 * the Prometheus text format; read directly, and scraped by a real Prometheus (Debian's
 * `prometheus`) whose HTTP API then answers queries on luanet_rpc_calls_total and the latency
 * histogram.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startProcess, tempDir } from "./helpers/proc.ts";
import { poll, runClient, startNameService, startService, tool, type NameService, type Service } from "./helpers/cluster.ts";

let ns: NameService;
let server: Service;
let client: Service;
let metricsUrl: string;

const serverSource = `
import { LuanetError } from "luanet";
luanet.RegRPCFunction("Plus", (a: { a: number; b: number }) => a.a + a.b);
luanet.RegRPCFunction("Slow", function* () { yield* Sche.Sleep(100); return "slow"; });
luanet.RegRPCFunction("Fail", () => { throw new LuanetError("not_yours", "failed as asked"); });
luanet.StartLocalService("PlusServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
`;

/** Counts its calls, so the test knows at least how many the server must have counted. */
const clientSource = `
luanet.StartLocalService("MetricsClient", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
const made = { plus: 0, slow: 0, fail: 0 };
luanet.RegRPCFunction("Made", () => made);
export default function* () {
  Sche.Spawn(function* () { for (;;) { yield* luanet.RPCCall("PlusServer", "Slow", null); made.slow++; } });
  for (;;) {
    const [, err] = yield* luanet.RPCCall("PlusServer", "Plus", { a: 1, b: 2 });
    if (err === null) made.plus++;
    if (made.plus % 50 === 0) { yield* luanet.RPCCall("PlusServer", "Fail", null); made.fail++; }
    yield* Sche.Sleep(5);
  }
}
`;

/** The samples of `text` (Prometheus text format) named `name`, as [labels, value]. */
function samples(text: string, name: string): [Record<string, string>, number][] {
  const out: [Record<string, string>, number][] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    out.push([labels, Number(m[3])]);
  }
  return out;
}

const one = (text: string, name: string, labels: Record<string, string>) =>
  samples(text, name).find(([l]) => Object.entries(labels).every(([k, v]) => l[k] === v))?.[1];

before(async () => {
  ns = await startNameService();
  server = await startService(ns, serverSource, { name: "server.ts", env: { LUANET_METRICS: "127.0.0.1:0" } });
  metricsUrl = (await server.waitFor(/metrics on (http:\/\/\S+)/, 10_000, "stderr"))[1]!;
  client = await startService(ns, clientSource, { name: "client.ts" });
});
after(async () => {
  await Promise.all([client?.stop(5000), server?.stop(5000)]);
  await ns?.proc.stop(5000);
});

describe("/metrics", { concurrency: 1 }, () => {
  test("luanet's counters by service, function, peer and code, the latency histogram, and Node's default metrics", async () => {
    await poll("a few Slow calls and a Fail", async () => {
      const made = JSON.parse((await tool(ns, ["call", "MetricsClient", "Made"])).stdout);
      return made.slow >= 5 && made.fail >= 1 ? true : undefined;
    }, 15_000, 200);
    const made = JSON.parse((await tool(ns, ["call", "MetricsClient", "Made"])).stdout);
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const calls = one(text, "luanet_rpc_calls_total", { service: "PlusServer", function: "Plus" })!;
    assert.ok(calls >= made.plus, `the server counted ${calls} Plus calls, the client had made ${made.plus} before`);
    assert.ok((one(text, "luanet_rpc_errors_total", { service: "PlusServer", function: "Fail", code: "not_yours" }) ?? 0) >= made.fail);
    assert.ok(one(text, "luanet_peer_calls_in_total", { service: "PlusServer", peer: "MetricsClient" })! >= made.plus);
    assert.ok(one(text, "luanet_peer_bytes_in_total", { service: "PlusServer", peer: "MetricsClient" })! > 0);
    // The histogram: cumulative buckets, +Inf equal to the count, Slow's calls all above 0.1 s's
    // bucket's lower neighbour and all within 0.25 s.
    const slow = samples(text, "luanet_rpc_duration_seconds_bucket").filter(([l]) => l.function === "Slow");
    assert.ok(slow.length > 10, text);
    const counts = slow.map(([, v]) => v);
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b), "cumulative");
    const count = one(text, "luanet_rpc_duration_seconds_count", { function: "Slow" })!;
    assert.equal(slow.find(([l]) => l.le === "+Inf")![1], count);
    assert.equal(slow.find(([l]) => l.le === "0.05")![1], 0, "no Slow call took under 50 ms");
    assert.equal(slow.find(([l]) => l.le === "0.25")![1], count);
    const sum = one(text, "luanet_rpc_duration_seconds_sum", { function: "Slow" })!;
    assert.ok(sum / count >= 0.1 && sum / count < 0.2, `mean ${sum / count} s`);
    // Every state is a series; at least the registrar is live (a Slow handler may be between calls).
    const states = samples(text, "luanet_tasks").filter(([l]) => l.service === "PlusServer");
    assert.equal(states.length, 7, JSON.stringify(states));
    assert.ok(states.reduce((n, [, v]) => n + v, 0) >= 1);
    assert.ok(samples(text, "nodejs_heap_size_used_bytes").length === 1, "Node's default metrics");
    assert.ok(samples(text, "process_cpu_seconds_total").length === 1);
  });

  test("other paths are 404 and other methods 405; the service keeps serving", async () => {
    const base = metricsUrl.replace(/\/metrics$/, "");
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/metrics/x`)).status, 404);
    const post = await fetch(metricsUrl, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    assert.equal((await fetch(metricsUrl)).status, 200);
  });

  test("an address it cannot listen on ends the process with exit 1 and says why", async () => {
    const port = Number(new URL(metricsUrl).port);
    const r = await runClient(ns, "export default function* () { for (;;) yield* Sche.Sleep(1000); }", { env: { LUANET_METRICS: `127.0.0.1:${port}` }, timeoutMs: 10_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`luanet: --metrics 127\\.0\\.0\\.1:${port}: cannot listen: .*EADDRINUSE`));
    assert.equal((await fetch(metricsUrl)).status, 200, "the first still serves");
  });
});

/** A free loopback port (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    }).on("error", reject);
  });
}

const prometheus = (() => {
  try {
    execFileSync("prometheus", ["--version"], { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
})();

describe("a real Prometheus", { concurrency: 1 }, () => {
  test("scrapes --metrics: luanet_rpc_calls_total and the latency histogram answer through its HTTP API",
    { skip: prometheus ? false : "Debian's prometheus is not installed (.ci/run installs it)" }, async () => {
      const dir = tempDir();
      const target = new URL(metricsUrl).host;
      writeFileSync(join(dir, "prometheus.yml"), [
        "global:", "  scrape_interval: 1s", "  evaluation_interval: 1s",
        "scrape_configs:", "  - job_name: luanet", "    static_configs:", `      - targets: ["${target}"]`, "",
      ].join("\n"));
      const port = await freePort();
      const prom = startProcess("prometheus", [
        `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn",
      ], { label: "prometheus" });
      try {
        const api = `http://127.0.0.1:${port}`;
        const query = async (q: string) => {
          const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`);
          const body = await r.json() as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
          assert.equal(body.status, "success");
          return body.data.result;
        };
        const calls = await poll("Prometheus to have scraped luanet_rpc_calls_total", async () => {
          const result = await query('luanet_rpc_calls_total{service="PlusServer",function="Plus"}');
          return result.length === 1 ? result[0]! : undefined;
        }, 20_000, 250);
        assert.equal(calls.metric.job, "luanet");
        assert.equal(calls.metric.peer, undefined);
        assert.ok(Number(calls.value[1]) > 0, JSON.stringify(calls));
        // Slow sleeps 100 ms: the median of its latency since start, from the buckets.
        const median = await query('histogram_quantile(0.5, sum by (le) (luanet_rpc_duration_seconds_bucket{function="Slow"}))');
        assert.equal(median.length, 1);
        const seconds = Number(median[0]!.value[1]);
        assert.ok(seconds >= 0.1 && seconds <= 0.25, `Slow's median ${seconds} s`);
        const errors = await query('luanet_rpc_errors_total{function="Fail"}');
        assert.equal(errors[0]?.metric.code, "not_yours");
        // A rate needs two scrapes: wait for them, then calls/s is positive.
        const rate = await poll("two scrapes for a rate", async () => {
          const r = await query('rate(luanet_rpc_calls_total{function="Plus"}[5s])');
          return r.length === 1 && Number(r[0]!.value[1]) > 0 ? Number(r[0]!.value[1]) : undefined;
        }, 15_000, 250);
        assert.ok(rate > 10, `Plus at ${rate} calls/s`);
      } finally {
        await prom.stop(5000);
      }
    });
});
