/**
 * Tracing with OpenTelemetry (issue 16, item 5) with real processes: each service script
 * registers the SDK (a BasicTracerProvider, an InMemorySpanExporter) and answers its finished
 * spans through an RPC function, so the test reads them as any client would. A three-process
 * chain A -> B -> C, a call between two services of one process, an error span, and a chain
 * through a B built before tracing (commit 9913f63), which must still work.
 */
import assert from "node:assert/strict";
import { execFileSync, execSync } from "node:child_process";
import { existsSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { prelude, startNameService, tool, type NameService } from "./helpers/cluster.ts";
import { fixture, root, startProcess, tempDir, type Running } from "./helpers/proc.ts";

/** The build before tracing: it decodes CALL as 4 or 5 items only. */
const OLD_COMMIT = "9913f63";

interface SpanDoc {
  name: string;
  kind: number;
  trace: string;
  id: string;
  parent: string | null;
  attributes: Record<string, unknown>;
  status: number;
}
const CLIENT = 2, SERVER = 1, ERROR = 2; // SpanKind.CLIENT, SpanKind.SERVER, SpanStatusCode.ERROR

/** What every traced script starts with: the SDK, and `Spans`, its finished spans (not those of
 * the Spans calls themselves). */
const sdk = `
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { LuanetError } from "luanet";
void LuanetError;
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
luanet.RegRPCFunction("Spans", () => exporter.getFinishedSpans().filter((s) => !s.name.endsWith("/Spans")).map((s) => ({
  name: s.name, kind: s.kind, trace: s.spanContext().traceId, id: s.spanContext().spanId,
  parent: s.parentSpanContext?.spanId ?? null, attributes: s.attributes, status: s.status.code,
})));
`;

const serve = (name: string) => `
luanet.StartLocalService(${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
`;

/** C: the end of the chain. */
const cSource = sdk + `
luanet.RegRPCFunction("Leaf", (n: number) => n + 1);
luanet.RegRPCFunction("Fail", () => { throw new LuanetError("custom_code", "failed as asked"); });
` + serve("TraceC");

/** B: its handler calls C, once itself and once from a task it spawns. (No SDK import: the same
 * source runs on the old build too, where a handler calls C the same way.) */
const bBody = `
luanet.RegRPCFunction("Middle", function* (n: number) {
  const [x, err] = yield* luanet.RPCCall<number>("TraceC", "Leaf", n);
  if (err !== null) throw err;
  const child = Sche.Spawn(function* () { return yield* luanet.RPCCall<number>("TraceC", "Leaf", x); });
  const [y, err2] = yield* child;
  if (err2 !== null) throw err2;
  return y;
});
`;
const bSource = sdk + bBody + serve("TraceB");

/** A: Start calls B (or the service its argument names), Local a service of its own process,
 * Failing C's Fail. */
const aSource = sdk + `
luanet.RegRPCFunction("Start", function* (args: { via: string; n: number }) {
  const [r, err] = yield* luanet.RPCCall<number>(args.via, "Middle", args.n);
  if (err !== null) throw err;
  return r;
});
luanet.RegRPCFunction("Local", function* () {
  const [r, err] = yield* luanet.RPCCall<string>("TraceLocal", "Echo", "hi");
  if (err !== null) throw err;
  return r;
});
luanet.RegRPCFunction("Failing", function* () {
  const [, err] = yield* luanet.RPCCall("TraceC", "Fail", null);
  return err?.code ?? null;
});
` + serve("TraceA") + `
luanet.NewService("local.ts");
`;
/** A's second service, in A's process. */
const localSource = prelude + `
luanet.RegRPCFunction("Echo", (s: string) => s + "!");
` + serve("TraceLocal");

let ns: NameService;
const procs: Running[] = [];

/** A folder with the scripts and the project's node_modules (a user's project has its own), so
 * a script can import @opentelemetry/sdk-trace-base. */
function scripts(files: Record<string, string>): string {
  const dir = fixture(files);
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/** Start `bin` (a luanet CLI) on `file` in `dir`, and wait until it has registered. */
async function start(bin: string, dir: string, file: string, registered = /registered with the name service at /): Promise<Running> {
  const proc = startProcess(process.execPath, [bin, join(dir, file)], { cwd: dir, env: { LUANET_NS: ns.addr }, label: file });
  procs.push(proc);
  await proc.waitFor(registered, 15_000, "stderr");
  return proc;
}

async function call(service: string, func: string, args: unknown): Promise<unknown> {
  const r = await tool(ns, ["call", service, func, JSON.stringify(args)]);
  assert.equal(r.code, 0, `luanet call ${service} ${func}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const spansOf = async (service: string): Promise<SpanDoc[]> => (await call(service, "Spans", null)) as SpanDoc[];

/** The one span of `spans` named `name` of `kind` in trace `traceId` whose parent is `parent` (any, if undefined). */
function one(spans: SpanDoc[], name: string, kind: number, traceId: string, parent?: string | null): SpanDoc {
  const found = spans.filter((s) => s.name === name && s.kind === kind && s.trace === traceId && (parent === undefined || s.parent === parent));
  assert.equal(found.length, 1, `one ${kind === CLIENT ? "client" : "server"} span ${name} in trace ${traceId} with parent ${parent}; spans: ${JSON.stringify(spans, null, 1)}`);
  return found[0]!;
}

before(async () => {
  ns = await startNameService();
  const dir = scripts({ "a.ts": prelude + aSource, "local.ts": localSource, "b.ts": prelude + bSource, "c.ts": prelude + cSource });
  const bin = join(root, "bin/luanet.js");
  await start(bin, dir, "c.ts");
  await start(bin, dir, "b.ts");
  await start(bin, dir, "a.ts", /TraceLocal registered with the name service at /); // after TraceA
});
after(async () => {
  await Promise.all(procs.map((p) => p.stop(5000)));
  await ns?.proc.stop(5000);
});

describe("tracing", { concurrency: 1 }, () => {
  test("A -> B -> C across three processes is one trace, each span the parent of the next", async () => {
    assert.equal(await call("TraceA", "Start", { via: "TraceB", n: 1 }), 3); // C adds 1, twice
    const [a, b, c] = await Promise.all([spansOf("TraceA"), spansOf("TraceB"), spansOf("TraceC")]);
    const aServer = a.find((s) => s.name === "TraceA/Start" && s.kind === SERVER);
    assert.ok(aServer, `A has a server span for Start: ${JSON.stringify(a)}`);
    const traceId = aServer.trace;
    assert.equal(aServer.parent, null, "the tool's call carries no trace: A's span is the root");
    assert.deepEqual(aServer.attributes, { "rpc.system": "luanet", "rpc.service": "TraceA", "rpc.method": "Start" });
    const aClient = one(a, "TraceB/Middle", CLIENT, traceId, aServer.id);
    assert.deepEqual(aClient.attributes, { "rpc.system": "luanet", "rpc.service": "TraceB", "rpc.method": "Middle" });
    const bServer = one(b, "TraceB/Middle", SERVER, traceId, aClient.id);
    // B's handler calls C itself, and from a task it spawned: both are children of its span.
    const bClients = b.filter((s) => s.name === "TraceC/Leaf" && s.kind === CLIENT && s.trace === traceId);
    assert.equal(bClients.length, 2, JSON.stringify(b));
    for (const bClient of bClients) {
      assert.equal(bClient.parent, bServer.id);
      one(c, "TraceC/Leaf", SERVER, traceId, bClient.id);
    }
    for (const s of [aServer, aClient, bServer, ...bClients]) assert.notEqual(s.status, ERROR);
  });

  test("a call to a service of the same process: client and server span, the handler's span their parent", async () => {
    assert.equal(await call("TraceA", "Local", null), "hi!");
    const a = await spansOf("TraceA");
    const server = a.filter((s) => s.name === "TraceA/Local" && s.kind === SERVER).at(-1)!;
    assert.ok(server, JSON.stringify(a));
    const client = one(a, "TraceLocal/Echo", CLIENT, server.trace, server.id);
    // TraceLocal runs in A's process: its spans go to the same exporter.
    one(a, "TraceLocal/Echo", SERVER, server.trace, client.id);
  });

  test("an error span carries the code, with status ERROR, on both sides", async () => {
    assert.equal(await call("TraceA", "Failing", null), "custom_code");
    const [a, c] = await Promise.all([spansOf("TraceA"), spansOf("TraceC")]);
    const client = a.filter((s) => s.name === "TraceC/Fail" && s.kind === CLIENT).at(-1)!;
    assert.ok(client, JSON.stringify(a));
    assert.equal(client.status, ERROR);
    assert.equal(client.attributes["rpc.luanet.error_code"], "custom_code");
    const server = one(c, "TraceC/Fail", SERVER, client.trace, client.id);
    assert.equal(server.status, ERROR);
    assert.equal(server.attributes["rpc.luanet.error_code"], "custom_code");
  });
});

/** The old build, made from git history once; null (and why) when it cannot be. */
function buildOld(): { bin: string } | { skip: string } {
  try {
    execFileSync("git", ["-C", root, "cat-file", "-e", `${OLD_COMMIT}^{commit}`], { stdio: "ignore" });
  } catch {
    return { skip: `commit ${OLD_COMMIT} is not in this checkout's git history (a shallow clone?)` };
  }
  const dir = tempDir();
  execSync(`git -C ${JSON.stringify(root)} archive ${OLD_COMMIT} | tar -x -C ${JSON.stringify(dir)}`);
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: dir, stdio: "pipe", timeout: 120_000 });
  const bin = join(dir, "bin/luanet.js");
  return existsSync(bin) ? { bin } : { skip: "the old build has no bin/luanet.js" };
}

describe("a chain through a peer built before tracing", { concurrency: 1 }, () => {
  let old: { bin: string } | { skip: string } = { skip: "not built" };
  let oldB: Running | null = null;
  before(async () => {
    old = buildOld();
    if (!("bin" in old)) return;
    const dir = scripts({ "old-b.ts": prelude + bBody + serve("OldB") });
    oldB = await start(old.bin, dir, "old-b.ts");
  });

  test("new A (with an SDK) -> old B -> new C: right results, and A's connection to B stays up", async (t) => {
    if (!("bin" in old)) return t.skip(old.skip);
    for (let n = 0; n < 5; n++) assert.equal(await call("TraceA", "Start", { via: "OldB", n }), n + 2);
    const stats = JSON.parse((await tool(ns, ["stats", "TraceA", "--json"])).stdout);
    // One connection for all five calls and the features question before them: B answered
    // no_such_function to that, and A never sent it a CALL it would close the connection for.
    assert.equal(stats.peers.OldB.connects, 1, JSON.stringify(stats.peers.OldB));
    assert.equal(stats.peers.OldB.callsOut, 6); // the features question, and the five
    assert.doesNotMatch(oldB!.stderr, /malformed|protocol|closed/i);
    const [a, c] = await Promise.all([spansOf("TraceA"), spansOf("TraceC")]);
    const clients = a.filter((s) => s.name === "OldB/Middle" && s.kind === CLIENT);
    assert.equal(clients.length, 5);
    for (const s of clients) assert.notEqual(s.status, ERROR);
    // Old B passes no trace on: C's spans for its calls start traces of their own.
    const aTraces = new Set(a.map((s) => s.trace));
    const fromOld = c.filter((s) => s.name === "TraceC/Leaf" && !aTraces.has(s.trace));
    assert.equal(fromOld.length, 10, JSON.stringify(c));
    for (const s of fromOld) assert.equal(s.parent, null);
  });
});
