/**
 * Hostile values from handlers, tasks and peers (issue 11, items 8 and 10), against live
 * processes: what a handler or task throws can never break a connection or the process, what a
 * peer sends can never forge a log line or reach the terminal raw, a HELLO name obeys the one
 * name rule, and the CLI tools print every byte (bounded per field) before they exit.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { lastJson, launch, runClient, startNameService, startService, steadyPlusClient, tool, type NameService } from "./helpers/cluster.ts";
import { closedBy, helloFrame, listenPort } from "./helpers/raw.ts";
import { luanetBin, startProcess } from "./helpers/proc.ts";

/** Scripts that build the hostile values; `hostile(kind)` returns a fresh one. */
const HOSTILE = `
const boom = () => { throw new Error("gotcha"); };
const trap = (): object => new Proxy({}, { get: boom, getPrototypeOf: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, has: boom });
function hostile(kind: string): unknown {
  switch (kind) {
    case "nullProto": return Object.create(null);
    case "toStringThrows": return { toString: boom, valueOf: boom, [Symbol.toPrimitive]: boom };
    case "errorGetters": {
      const e = new Error("plain");
      for (const key of ["stack", "message", "name", "code", "cause"]) Object.defineProperty(e, key, { get: boom });
      return e;
    }
    case "proxy": return trap();
    case "proxyError": return new Proxy(new Error("x"), { get: boom, getPrototypeOf: () => Error.prototype });
    case "getterThrowsProxy": return { get x() { throw trap(); } };
  }
  return null;
}
`;
const KINDS = ["nullProto", "toStringThrows", "errorGetters", "proxy", "proxyError"];

/** Send a HELLO with `name` as a raw client; resolves whether the service closed the link. */
const helloClosed = (port: number, name: string, ms = 5000) => closedBy(port, helloFrame(name), ms);



/** Every line of a log file is an entry head or a stack line (two spaces), never anything else. */
const ENTRY = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO |WARN |ERROR) \S+\[\d+\] /;
function assertOnlyEntries(text: string, what: string): void {
  for (const line of text.trimEnd().split("\n")) assert.ok(ENTRY.test(line) || line.startsWith("  "), `${what}: a line that is no entry: ${JSON.stringify(line)}`);
}
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe("hostile values", { concurrency: true }, () => {
  let ns: NameService;
  test.before(async () => {
    ns = await startNameService();
  });

  test("handlers throwing hostile values give the caller remote_error, and 10 pending calls on the same connection succeed", async () => {
    const svc = await startService(ns, `${HOSTILE}
      let released = false;
      let waiting = 0;
      luanet.RegRPCFunction("Slow", function* (n: number) {
        waiting++;
        for (let i = 0; i < 1000 && !released; i++) yield* Sche.Sleep(10);
        return n * 2;
      });
      luanet.RegRPCFunction("Waiting", () => waiting);
      luanet.RegRPCFunction("Release", () => { released = true; return true; });
      luanet.RegRPCFunction("Throw", (kind: string) => { throw hostile(kind); });
      luanet.RegRPCFunction("ThrowLater", function* (kind: string) { yield* Sche.Sleep(1); throw hostile(kind); });
      luanet.RegRPCFunction("Return", (kind: string) => hostile(kind));
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.StartLocalService("Thrower", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    const r = await runClient(ns, `
      export default function* () {
        const slow = Array.from({ length: 10 }, (_, i) => Sche.Spawn(function* () {
          return yield* luanet.RPCCall("Thrower", "Slow", i, { timeout: 15_000 });
        }));
        for (let t = 0; t < 500; t++) {
          const [n] = yield* luanet.RPCCall("Thrower", "Waiting", null);
          if (n === 10) break;
          yield* Sche.Sleep(10);
        }
        const hostile: Record<string, unknown> = {};
        for (const func of ["Throw", "ThrowLater"]) {
          for (const kind of ${JSON.stringify(KINDS)}) {
            const [ret, err] = yield* luanet.RPCCall("Thrower", func, kind, { timeout: 8000 });
            hostile[func + " " + kind] = err === null ? { ret } : { code: err.code, message: err.message };
          }
        }
        for (const kind of ["proxy", "getterThrowsProxy"]) {
          const [, err] = yield* luanet.RPCCall("Thrower", "Return", kind, { timeout: 8000 });
          hostile["Return " + kind] = { code: err?.code, message: err?.message };
        }
        yield* luanet.RPCCall("Thrower", "Release", null);
        const results = [];
        for (const task of slow) {
          const [ret, err] = yield* task;
          results.push(err === null ? ret : err.code);
        }
        const [sum] = yield* luanet.RPCCall("Thrower", "Plus", { a: 40, b: 2 });
        console.log(JSON.stringify({ hostile, results, sum }));
        luanet.Exit(0);
      }
    `, { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const { hostile, results, sum } = lastJson<{ hostile: Record<string, { code?: string; message?: string }>; results: unknown[]; sum: number }>(r.stdout);
    for (const func of ["Throw", "ThrowLater"]) {
      for (const kind of KINDS) assert.equal(hostile[`${func} ${kind}`]?.code, "remote_error", `${func} ${kind}: ${JSON.stringify(hostile[`${func} ${kind}`])}`);
    }
    // A result whose inspection throws is the handler's error; one that cannot be encoded is bad_value.
    assert.equal(hostile["Return proxy"]?.code, "remote_error", JSON.stringify(hostile["Return proxy"]));
    assert.equal(hostile["Return getterThrowsProxy"]?.code, "bad_value", JSON.stringify(hostile["Return getterThrowsProxy"]));
    assert.match(hostile["Throw nullProto"]!.message!, /a thrown object \(null prototype\)/);
    assert.equal(hostile["Throw errorGetters"]!.message, "(no readable message)");
    assert.deepEqual(results, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18], "the 10 pending calls all succeeded");
    assert.equal(sum, 42);
    assert.doesNotMatch(svc.stderr, /closed: /, "the service closed no connection on an error");
  });

  test("a task throwing a hostile value is a logged task failure, and the process keeps serving", async () => {
    const svc = await startService(ns, `${HOSTILE}
      luanet.RegRPCFunction("Crash", (kind: string) => { Sche.Spawn(function* crasher() { yield* Sche.Sleep(1); throw hostile(kind); }); return true; });
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.StartLocalService("Crasher", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    for (const kind of KINDS) {
      const call = await tool(ns, ["call", "Crasher", "Crash", JSON.stringify(kind)]);
      assert.equal(call.code, 0, call.stderr);
    }
    await svc.waitFor(new RegExp(`(task #\\d+ \\(crasher\\) failed[^]*){${KINDS.length}}`), 10_000, "stderr");
    const plus = await tool(ns, ["call", "Crasher", "Plus", '{"a":40,"b":2}']);
    assert.equal(plus.stdout.trim(), "42", plus.stderr);
    assert.equal(svc.child.exitCode, null, "the service is still running");
    assert.doesNotMatch(svc.stderr, /uncaught exception/);
    assert.match(svc.stderr, /task #\d+ \(crasher\) failed: a thrown object/);
  });

  test("a forged newline and timestamp in a message, a field, an error or a HELLO name cannot make a second log line, nor reach the terminal raw", async () => {
    const forged = "hi\n2026-01-01T00:00:00.000Z ERROR Fake[1] forged entry\r\x1b[31mred\x1b[0m\u202eevil\u0085";
    const svc = await startService(ns, `
      luanet.RegRPCFunction("Echo", (text: string) => {
        luanet.log.info("echo: " + text, { text, [text]: 1 });
        return text;
      });
      luanet.RegRPCFunction("Fail", (text: string) => { throw new Error(text); });
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.StartLocalService("Logger", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `, { args: ["--log-level", "debug"] });
    const port = listenPort(svc.stderr, "Logger");
    assert.ok(await helloClosed(port, forged), "a HELLO with the forged name is refused");

    const forger = launch(ns, `
      export default function* (text: string) {
        const [echo] = yield* luanet.RPCCall("Logger", "Echo", text);
        const [, err] = yield* luanet.RPCCall("Logger", "Fail", text);
        luanet.log.warn(err!.message, { error: err, stack: err!.remoteStack });
        console.log(JSON.stringify({ same: echo === text, code: err!.code }));
        luanet.Exit(0);
      }
    `, { args: [forged], name: "forger.ts" });
    const client = await forger.exited(15_000);
    assert.equal(client.code, 0, client.stderr);
    assert.deepEqual(lastJson(client.stdout), { same: true, code: "remote_error" });
    const plus = await tool(ns, ["call", "Logger", "Plus", '{"a":1,"b":2}']);
    assert.equal(plus.stdout.trim(), "3");

    svc.child.kill("SIGTERM");
    await svc.exited(10_000);
    const serviceLog = readFileSync(join(svc.dir, "logs", readdirSync(join(svc.dir, "logs"))[0]!), "utf8");
    const clientLog = readFileSync(join(forger.dir, "logs", readdirSync(join(forger.dir, "logs"))[0]!), "utf8");
    for (const [what, text] of [["the service's log file", serviceLog], ["the client's log file", clientLog], ["the service's console", svc.stderr], ["the client's console", client.stderr]] as const) {
      assertOnlyEntries(text.replace(/^\[[^\]\n]+\] (DEBUG|INFO|WARN|ERROR) /gm, "2026-12-01T00:00:00.000Z INFO  console[0] "), what);
      assert.doesNotMatch(text, RAW_CONTROL, `${what} has no raw control character`);
      assert.doesNotMatch(text, /^2026-01-01T00:00:00\.000Z/m, `${what} has no forged entry`);
    }
    assert.match(serviceLog, /echo: hi\\n2026-01-01T00:00:00\.000Z ERROR Fake\[1\] forged entry\\r\\x1b\[31mred\\x1b\[0m\\u202eevil\\x85/);
    assert.match(serviceLog, /HELLO refused: a name must not contain control characters/);
    assert.match(clientLog, /WARN {2}forger\[\d+\] hi\\n2026-01-01/);
  });

  test("a HELLO name that breaks the name rule (1 MB, bidi override, NUL, surrounding space) is refused, and the service keeps serving", async () => {
    const svc = await startService(ns, `
      luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
      luanet.RegRPCFunction("Rss", () => process.memoryUsage().rss);
      luanet.StartLocalService("Named", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    const port = listenPort(svc.stderr, "Named");
    const rss = async () => Number((await tool(ns, ["call", "Named", "Rss"])).stdout);
    const before = await rss();
    const client = launch(ns, steadyPlusClient("Named"), { args: ["3000"] });
    const names = ["n".repeat(1024 * 1024), "a".repeat(256), "evil\u202etxt.exe", "nul\u0000name", " leading", "trailing ", ""];
    for (let round = 0; round < 20; round++) {
      const closed = await Promise.all(names.map((name) => helloClosed(port, name)));
      names.forEach((name, i) => assert.ok(closed[i], `a HELLO named ${JSON.stringify(name.slice(0, 20))} (${name.length} chars) is refused`));
    }
    // A valid name is accepted: the link stays open until we close it.
    assert.equal(await helloClosed(port, "a".repeat(255), 500), false);
    const exit = await client.exited(20_000);
    assert.equal(exit.code, 0, exit.stderr);
    const { ok, bad } = lastJson<{ ok: number; bad: number }>(exit.stdout);
    assert.equal(bad, 0, exit.stdout);
    assert.ok(ok > 10, `the client made ${ok} good calls`);
    assert.match(svc.stderr, /HELLO refused: a name must be at most 255 characters \(this one has 1048576\)/);
    assert.ok(svc.stderr.length < 200_000, `the refusals logged ${svc.stderr.length} characters: the 1 MB name is not echoed`);
    const after = await rss();
    console.log(`# rss of the service: ${(before / 2 ** 20).toFixed(1)} MiB before 20 MB of refused HELLO names, ${(after / 2 ** 20).toFixed(1)} MiB after`);
    assert.ok(after < before + 64 * 2 ** 20, `rss grew from ${before} to ${after}`);
    assert.equal(svc.child.exitCode, null);
  });

  test("StartLocalService applies the same name rule", async () => {
    for (const name of ["x".repeat(256), "bad\nname", " padded", "rtl\u202e"]) {
      const r = await runClient(ns, `luanet.StartLocalService(${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));`);
      assert.equal(r.code, 1, `${JSON.stringify(name)}: ${r.stderr}`);
      assert.match(r.stderr, /luanet\.StartLocalService\(name, type, addr, onDisconnected\?\): a name must/);
    }
  });
});

describe("the CLI tools on a slow pipe, and with hostile registry entries", { concurrency: true }, () => {
  /** Run `luanet <args>` into `(sleep 1; wc -c)`: the bytes that arrived, and luanet's own exit code. */
  async function throughSlowPipe(args: string[]): Promise<{ bytes: number; code: number; stderr: string }> {
    const quoted = [process.execPath, luanetBin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
    const exit = await startProcess("bash", ["-c", `${quoted} | (sleep 1; wc -c); echo "exit=\${PIPESTATUS[0]}"`]).exited(30_000);
    const m = /^\s*(\d+)\s*\nexit=(\d+)/.exec(exit.stdout);
    if (m === null) throw new Error(`unexpected output: ${exit.stdout}${exit.stderr}`);
    return { bytes: Number(m[1]), code: Number(m[2]), stderr: exit.stderr };
  }

  test("luanet call prints every byte into a pipe read slowly, and its exit code is right", async () => {
    const ns = await startNameService();
    await startService(ns, `
      luanet.RegRPCFunction("Big", (n: number) => "x".repeat(n));
      luanet.RegRPCFunction("Fail", (n: number) => { throw new Error("e".repeat(n)); });
      luanet.RegRPCFunction("Evil", () => ({ text: "\u001b[2J\u009b31m\u202e", lines: "a\\nb" }));
      luanet.RegRPCFunction("EvilFail", () => { throw new Error("x\u001b[2J\u202e"); });
      luanet.StartLocalService("BigServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
    `);
    const big = await throughSlowPipe(["call", "BigServer", "Big", "1000000", "--ns", ns.addr]);
    assert.deepEqual([big.bytes, big.code], [1_000_000 + 3, 0], big.stderr); // "x...x" and a newline
    const failed = await throughSlowPipe(["call", "BigServer", "Fail", "10", "--ns", ns.addr]);
    assert.deepEqual([failed.bytes, failed.code], [0, 1], failed.stderr);
    assert.match(failed.stderr, /^luanet: remote_error: e{10}\n/);

    // What the service returns or throws cannot drive the terminal; the output stays JSON.
    const evil = await tool(ns, ["call", "BigServer", "Evil"]);
    assert.equal(evil.code, 0, evil.stderr);
    assert.doesNotMatch(evil.stdout, RAW_CONTROL);
    assert.deepEqual(JSON.parse(evil.stdout), { text: "\u001b[2J\u009b31m\u202e", lines: "a\nb" });
    const evilFail = await tool(ns, ["call", "BigServer", "EvilFail"]);
    assert.equal(evilFail.code, 1);
    assert.doesNotMatch(evilFail.stderr, RAW_CONTROL);
    assert.match(evilFail.stderr, /^luanet: remote_error: x\\x1b\[2J\\u202e\n/);
  });

  test("luanet ls bounds every field, escapes control characters, and prints every row into a slow pipe", async () => {
    // A stand-in name service answering List with a 5 MB name, a hostile function name and
    // 20,000 ordinary rows: what a name service holding such entries would send.
    const fake = launch("127.0.0.1:1", `
      const row = (name: string, funcs: string[]) => ({ name, type: "stream", addr: net.netaddr_ipv4("127.0.0.1", 9), pid: 1, host: "h", funcs, started: Date.now() - 30.5 * 3600_000, instance: "i" });
      const rows = [row("N".repeat(5 * 1024 * 1024), ["f"]), row("Hostile", ["\\u001b[2J\\u001b[31mred", "rtl\\u202e"])];
      for (let i = 0; i < 20_000; i++) rows.push(row("svc" + i, ["Plus"]));
      luanet.RegRPCFunction("List", () => rows);
      luanet.StartLocalService("FakeNS", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    `);
    await fake.waitFor(/FakeNS listening on 127\.0\.0\.1:\d+/, 10_000, "stderr");
    const addr = `127.0.0.1:${listenPort(fake.stderr, "FakeNS")}`;
    const ls = await tool(addr, ["ls"], 30_000);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 20_003, "a header and every row");
    for (const line of lines) assert.ok(line.length <= 6 * 80 + 5 * 2, `a row of ${line.length} characters`);
    assert.ok(ls.stdout.length < 20_003 * 300, `ls printed ${ls.stdout.length} characters`);
    assert.match(lines.find((l) => l.startsWith("NNN"))!, /^N{79}… /);
    const hostile = lines.find((l) => l.startsWith("Hostile"))!;
    assert.match(hostile, /\\x1b\[2J\\x1b\[31mred,rtl\\u202e/);
    assert.doesNotMatch(ls.stdout, RAW_CONTROL);

    const piped = await throughSlowPipe(["ls", "--ns", addr]);
    assert.deepEqual([piped.bytes, piped.code], [Buffer.byteLength(ls.stdout), 0], piped.stderr);
  });
});
