/**
 * Many services in one process (issue 13): scripts started with `luanet.NewService` run as
 * services of the process that starts them. Observed as users would: the scripts under
 * tests/fixtures/colocated/ run in real processes, register with a real name service on
 * 127.0.0.1 (port 0), and are listed and called with the CLI tools and from other processes.
 * A fixture that checks something inside its process prints one JSON line per check
 * (`{"check": "<name>", ...}`); the tests here assert them.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { launch, poll, startNameService, tool, type NameService } from "./helpers/cluster.ts";
import { freePorts } from "./helpers/etcd.ts";
import { fixture, root, startLuanet, type Running } from "./helpers/proc.ts";

const fixtures = join(root, "tests/fixtures/colocated");

type Check = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Start a fixture script (a path under tests/fixtures/colocated) with LUANET_NS, in a temp folder. */
function startFixture(ns: NameService, script: string, args: string[] = [], cwd = fixture({})): Running {
  return startLuanet([join(fixtures, script), ...args], { cwd, env: { LUANET_NS: ns.addr } });
}

/** The checks a fixture printed, by name. */
function checksOf(stdout: string): Map<string, Check> {
  const checks = new Map<string, Check>();
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(line) as Check;
      if (typeof parsed.check === "string") checks.set(parsed.check, parsed);
    } catch {
      // not a check
    }
  }
  return checks;
}

/** Run a fixture to its exit (bounded) and return its checks; it must exit 0. */
async function runFixture(ns: NameService, script: string, args: string[] = [], cwd?: string): Promise<{ checks: Map<string, Check>; stdout: string; stderr: string }> {
  const r = await startFixture(ns, script, args, cwd).exited(40_000);
  assert.equal(r.code, 0, `${script} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return { checks: checksOf(r.stdout), stdout: r.stdout, stderr: r.stderr };
}

function check(checks: Map<string, Check>, name: string): Check {
  const found = checks.get(name);
  assert.ok(found !== undefined, `the fixture printed no check "${name}"`);
  return found;
}

/** Wait (bounded) until a running fixture prints the check `name`. */
function waitForCheck(proc: Running, name: string, ms = 30_000): Promise<Check> {
  return proc.until(`check "${name}"`, () => checksOf(proc.stdout).get(name), ms);
}

interface LsRow {
  name: string;
  addr: string;
  funcs: string;
  pid: number;
}

/** `luanet ls`, run as a child process, parsed into rows. */
async function ls(ns: NameService): Promise<LsRow[]> {
  const r = await tool(ns, ["ls"]);
  assert.equal(r.code, 0, r.stderr);
  const [header, ...lines] = r.stdout.trimEnd().split("\n");
  assert.match(header ?? "", /^NAME\s+ADDRESS\s+TRANSPORT\s+FUNCTIONS\s+PID\s+UPTIME$/);
  return lines.map((line) => {
    const [name, addr, , funcs, pid] = line.split(/\s+/);
    return { name: name!, addr: addr!, funcs: funcs!, pid: Number(pid) };
  });
}

/** Poll `luanet ls` until `ready(rows)` holds, at most `ms`. */
function lsUntil(ns: NameService, what: string, ready: (rows: LsRow[]) => boolean, ms = 10_000): Promise<LsRow[]> {
  return poll(what, async () => {
    const rows = await ls(ns);
    return ready(rows) ? rows : undefined;
  }, ms, 150);
}

const names = (rows: LsRow[]) => rows.map((r) => r.name);
const portOf = (addr: string) => Number(/:(\d+)$/.exec(addr)?.[1]);

/** Whether something accepts connections on 127.0.0.1:`port` (bounded: 3 s). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to port ${port} got no answer within 3 s`));
    }, 3000);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === "ECONNREFUSED") resolve(false);
      else reject(error);
    });
  });
}

/** `luanet call service Plus {a:1,b:2}` from another process: its stdout, or the error line. */
async function callPlus(ns: NameService, service: string): Promise<{ code: number | null; out: string }> {
  const r = await tool(ns, ["call", service, "Plus", '{"a":1,"b":2}']);
  return { code: r.code, out: r.code === 0 ? r.stdout : r.stderr };
}

/** The lines of stderr at WARN or ERROR level, and anything that is no log line. */
const complaints = (stderr: string) => stderr.split("\n").filter((l) => l.trim() !== "" && !/^\[[^\]]+\] INFO /.test(l));

describe("many services in one process (luanet.NewService, issue 13)", { concurrency: true }, () => {
  let ns: NameService;
  before(async () => {
    // No recovery window (a name service just started waits up to 3 s before it says a name is
    // unknown): the tests here call names that are gone and expect "unavailable" within 2 s.
    ns = await startNameService({ env: { LUANET_NS_RECOVERY_MS: "0" } });
  });
  after(async () => {
    await ns.proc.stop(3000);
  });

  describe("two services of one process call and message each other (pair/)", { concurrency: true }, () => {
    let checks: Map<string, Check>;
    let stderr: string;
    before(async () => {
      ({ checks, stderr } = await runFixture(ns, "pair/main.ts"));
    });

    test("NewService answers each service's name; nothing is logged above INFO", () => {
      const started = check(checks, "started");
      assert.deepEqual([started.b, started.box, started.me], ["PairB", "PairBox", "PairA"]);
      assert.deepEqual(complaints(stderr), []);
    });

    test("a call runs the handler as the callee (luanet.name), ctx.from is the caller; the callee calls back", () => {
      assert.deepEqual(check(checks, "plus"), { check: "plus", ret: { sum: 5, me: "PairB", from: "PairA" }, code: null, me: "PairA" });
      assert.deepEqual(check(checks, "b calls a").ret, { hello: { text: "from B's handler", me: "PairA", from: "PairB" }, err: null, me: "PairB" });
    });

    test("messages from B arrive at A in order, `from` B", () => {
      const m = check(checks, "b messages a");
      assert.deepEqual(m.ret, { sent: 50, err: null });
      assert.deepEqual(m.froms, ["PairB"]);
      assert.deepEqual(m.seqs, Array.from({ length: 50 }, (_, i) => i));
    });

    test("a generator handler slower than the caller's deadline: timeout at the deadline, not at the handler's end", () => {
      const d = check(checks, "deadline");
      assert.equal(d.code, "timeout");
      assert.equal(d.ret, null);
      assert.match(d.message, /PairB\.Slow/);
      assert.ok(d.ms >= 190, `timed out after ${d.ms} ms, before its 200 ms deadline`);
      assert.ok(d.ms < 1400, `timed out after ${d.ms} ms: it waited for the 1500 ms handler`);
    });

    test("no_such_function names the function", () => {
      const c = check(checks, "no such function");
      assert.equal(c.code, "no_such_function");
      assert.match(c.message, /PairB has no function "Nope"/);
    });

    test("a handler's Error: remote_error, its message and stack kept", () => {
      const c = check(checks, "remote error");
      assert.equal(c.code, "remote_error");
      assert.equal(c.message, "boom: bad input 42");
      assert.match(c.stack, /^Error: boom: bad input 42\n\s+at boom \(.*pair[/\\]callee\.ts:\d+:\d+\)/);
    });

    test("a handler's own LuanetError keeps its code and message", () => {
      const c = check(checks, "handler's own code");
      assert.deepEqual([c.code, c.message, c.ret], ["bad_credentials", "wrong password for bob", null]);
    });

    test("a function as argument, as result, in a message: bad_value", () => {
      const c = check(checks, "bad value");
      assert.deepEqual([c.arg, c.ret, c.msg, c.argRet, c.retRet], ["bad_value", "bad_value", "bad_value", null, null]);
    });

    test("too_large: past the sender's maxFrameBytes for calls and messages, past the callee's for results; under it, fine", () => {
      const c = check(checks, "too large");
      assert.equal(c.arg, "too_large", "an 8000-byte argument with maxFrameBytes 4096");
      assert.equal(c.msg, "too_large", "an 8000-byte message with maxFrameBytes 4096");
      assert.equal(c.small, 100, "a 100-byte argument still goes");
      assert.equal(c.ret, "too_large", "a 100,000-byte result from a callee with maxFrameBytes 65536");
      assert.equal(c.underLimit, 30_000);
    });

    test("1000 SendMsg from A arrive at B's GetMsg in order, each `from` A", () => {
      const c = check(checks, "ordering");
      assert.equal(c.sendErrors, 0);
      assert.deepEqual(c.received, { count: 1000, outOfOrder: [], froms: ["PairA"] });
    });

    test("a full mailbox (mailboxLength 4, not read): SendMsg waits, then timeout after rpcTimeout; the message is not delivered", () => {
      const full = check(checks, "mailbox full");
      assert.deepEqual(full.fill, [null, null, null, null], "four fit");
      assert.equal(full.code, "timeout");
      assert.ok(full.ms >= 380, `gave up after ${full.ms} ms, before rpcTimeout (400 ms)`);
      assert.ok(full.ms < 3000, `gave up after ${full.ms} ms`);
      const drains = check(checks, "mailbox drains");
      assert.ok(!drains.got.some((m: { seq: number }) => m.seq === 4), "the message that timed out never arrives");
    });

    test("senders waiting on a full mailbox go through, in order, once the receiver reads", () => {
      const c = check(checks, "mailbox drains");
      assert.equal(c.pendingAfter300, 3, "all three still wait while nobody reads");
      assert.deepEqual([c.kicked, c.kickErr], [null, null]);
      assert.deepEqual(c.outcomes.map((o: { seq: number; code: string | null }) => [o.seq, o.code]), [[5, null], [6, null], [7, null]]);
      assert.deepEqual(c.got, [0, 1, 2, 3, 5, 6, 7].map((seq) => ({ from: "PairA", seq })));
    });
  });

  test("a service whose root task throws stops; the others of its process serve on, and the log names it (crash/)", async () => {
    const proc = startFixture(ns, "crash/main.ts");
    const started = await waitForCheck(proc, "started");
    assert.deepEqual(started.names, ["CrashSteady", "CrashBad"]);
    const listed = await lsUntil(ns, "CrashSteady and CrashBad in luanet ls", (rows) => ["CrashSteady", "CrashBad"].every((n) => names(rows).includes(n)));
    const bad = listed.find((r) => r.name === "CrashBad")!;
    const steady = listed.find((r) => r.name === "CrashSteady")!;
    assert.deepEqual([bad.pid, steady.pid], [proc.pid, proc.pid], "both in one process");
    assert.equal(await accepts(portOf(bad.addr)), true);

    const sent = await tool(ns, ["send", "CrashBad", '"now"']); // its root task throws on this
    assert.equal(sent.code, 0, sent.stderr);
    await proc.waitFor(/\[CrashBad\] ERROR CrashBad failed\n\s+Error: CrashBad gave up on "now"\n\s+at default \(.*bad\.ts:\d+:\d+\)/, 10_000, "stderr");

    const rows = await lsUntil(ns, "CrashBad gone from luanet ls", (r) => !names(r).includes("CrashBad"));
    assert.ok(names(rows).includes("CrashSteady"));
    assert.equal(await accepts(portOf(bad.addr)), false, "its listener is closed");
    assert.equal(await accepts(portOf(steady.addr)), true);
    const [toSteady, toBad] = await Promise.all([callPlus(ns, "CrashSteady"), callPlus(ns, "CrashBad")]);
    assert.deepEqual(toSteady, { code: 0, out: "3\n" });
    assert.equal(toBad.code, 1);
    assert.match(toBad.out, /^luanet: (unavailable|disconnected): /);
    assert.match(proc.stdout, /CrashBad's task halted/, "its other tasks are halted");
    assert.doesNotMatch(proc.stdout, /CrashSteady's task halted/);
    assert.ok(proc.running, "the process carries on");
    assert.equal(await proc.stop(5000), true);
  });

  describe("luanet.StopService stops the current service only (stop/)", { concurrency: 1 }, () => {
    let proc: Running;
    let client: Running;
    let rowsBefore: LsRow[];
    before(async () => {
      proc = startFixture(ns, "stop/main.ts");
      await waitForCheck(proc, "started");
      rowsBefore = await lsUntil(ns, "four services in luanet ls", (rows) => ["StopRoot", "StopOne", "StopTwo", "StopThree"].every((n) => names(rows).includes(n)));
      // Another process calling all of them every 50 ms, holding connections to each.
      client = launch(ns, `
        export default function* () {
          for (let round = 0; ; round++) {
            const results: Record<string, unknown> = {};
            for (const name of ["StopRoot", "StopOne", "StopTwo", "StopThree"]) {
              const [sum, err] = yield* luanet.RPCCall(name, "Plus", { a: round, b: 1 }, { timeout: 2000 });
              results[name] = err === null ? (sum === round + 1 ? "ok" : sum) : err.code;
            }
            console.log(JSON.stringify({ round, results }));
            yield* Sche.Sleep(50);
          }
        }
      `, { name: "stop-client.ts" });
    });
    after(async () => {
      await Promise.all([client.stop(3000), proc.stop(5000)]);
    });

    /** The client's rounds begun after `mark` (its count of rounds then), once there are `n`. */
    async function roundsAfter(mark: number, n: number): Promise<{ round: number; results: Record<string, string> }[]> {
      return client.until(`${n} client rounds after round ${mark}`, () => {
        const rounds = client.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { round: number; results: Record<string, string> });
        const later = rounds.filter((r) => r.round > mark);
        return later.length >= n ? later : undefined;
      }, 15_000);
    }
    const roundsSoFar = () => client.stdout.split("\n").filter((l) => l.startsWith("{")).length;

    test("the four run in one process and serve the other process", async () => {
      assert.deepEqual(new Set(rowsBefore.filter((r) => r.name.startsWith("Stop")).map((r) => r.pid)), new Set([proc.pid]));
      const [first] = await roundsAfter(-1, 1);
      assert.deepEqual(first!.results, { StopRoot: "ok", StopOne: "ok", StopTwo: "ok", StopThree: "ok" });
    });

    test("a service started with NewService stops: gone from luanet ls, its calls fail, the others serve", async () => {
      const sent = await tool(ns, ["send", "StopTwo", '"stop"']);
      assert.equal(sent.code, 0, sent.stderr);
      const rows = await lsUntil(ns, "StopTwo gone from luanet ls", (r) => !names(r).includes("StopTwo"));
      assert.deepEqual(names(rows).filter((n) => n.startsWith("Stop")).sort(), ["StopOne", "StopRoot", "StopThree"]);
      const stopTwo = rowsBefore.find((r) => r.name === "StopTwo")!;
      assert.equal(await accepts(portOf(stopTwo.addr)), false, "its listener is closed");

      // The client that held a connection to it, and a new process.
      const later = await roundsAfter(roundsSoFar(), 3);
      for (const { results } of later) {
        assert.deepEqual({ ...results, StopTwo: "?" }, { StopRoot: "ok", StopOne: "ok", StopTwo: "?", StopThree: "ok" });
        assert.match(results.StopTwo!, /^(unavailable|disconnected)$/);
      }
      const [toTwo, toOne] = await Promise.all([callPlus(ns, "StopTwo"), callPlus(ns, "StopOne")]);
      assert.equal(toTwo.code, 1);
      assert.match(toTwo.out, /^luanet: (unavailable|disconnected): /);
      assert.deepEqual(toOne, { code: 0, out: "3\n" });

      assert.match(proc.stdout, /StopTwo's task halted/);
      assert.doesNotMatch(proc.stdout, /(StopOne|StopThree)'s task halted/);
      assert.match(proc.stderr, /\[StopTwo\] INFO StopTwo stopping: luanet\.StopService\(\)/);
      assert.ok(proc.running, "the process keeps running");
    });

    test("the process's own service stops too; the services it started serve on", async () => {
      const sent = await tool(ns, ["send", "StopRoot", '"stop"']);
      assert.equal(sent.code, 0, sent.stderr);
      const rows = await lsUntil(ns, "StopRoot gone from luanet ls", (r) => !names(r).includes("StopRoot"));
      assert.deepEqual(names(rows).filter((n) => n.startsWith("Stop")).sort(), ["StopOne", "StopThree"]);
      const later = await roundsAfter(roundsSoFar(), 3);
      for (const { results } of later) {
        assert.equal(results.StopOne, "ok");
        assert.equal(results.StopThree, "ok");
        assert.match(results.StopRoot!, /^(unavailable|disconnected)$/);
      }
      const [toRoot, toThree] = await Promise.all([callPlus(ns, "StopRoot"), callPlus(ns, "StopThree")]);
      assert.equal(toRoot.code, 1);
      assert.match(toRoot.out, /^luanet: (unavailable|disconnected): /);
      assert.deepEqual(toThree, { code: 0, out: "3\n" });
      assert.doesNotMatch(proc.stdout, /(StopOne|StopThree)'s task halted/);
      assert.ok(proc.running, "the process keeps running");
    });
  });

  describe("two instances of one script keep their own module state and arguments (instances/)", { concurrency: true }, () => {
    let checks: Map<string, Check>;
    before(async () => {
      ({ checks } = await runFixture(ns, "instances/main.ts", ["rootarg"]));
    });

    test("NewService(\"room.ts\", \"1\") and (\"room.ts\", \"2\"): one counter each, their own luanet.args", () => {
      assert.deepEqual(check(checks, "started").names, ["InstRoom1", "InstRoom2", "InstMRoom1", "InstMRoom2"]);
      const { counts } = check(checks, "counts");
      const script = join(fixtures, "instances/room.ts");
      assert.deepEqual(counts.InstRoom1, [1, 2, 3].map((counter) => ({ counter, me: "InstRoom1", args: ["1"], argsAtTop: ["1"], script })));
      assert.deepEqual(counts.InstRoom2, [{ counter: 1, me: "InstRoom2", args: ["2"], argsAtTop: ["2"], script }]);
    });

    test("the same for an ES module (room.mts)", () => {
      const { counts } = check(checks, "counts");
      assert.deepEqual(counts.InstMRoom1, [1, 2].map((counter) => ({ counter, me: "InstMRoom1", args: ["1"] })));
      assert.deepEqual(counts.InstMRoom2, [{ counter: 1, me: "InstMRoom2", args: ["2"] }]);
    });

    test("the starting script keeps its own luanet.args; a task a handler spawns acts for the handler's service", () => {
      const started = check(checks, "started");
      assert.deepEqual([started.rootArgs, started.rootName], [["rootarg"], null]);
      const spawned = check(checks, "spawned");
      assert.deepEqual(spawned.ret, { me: "InstRoom2", args: ["2"] });
      assert.deepEqual(spawned.rootArgs, ["rootarg"]);
    });

    test("a service operation outside any task, with several services: a TypeError that says why", () => {
      const c = check(checks, "outside a task");
      assert.equal(c.threw, true);
      assert.equal(c.type, "TypeError");
      assert.match(c.message, /^luanet\.RPCCall was called outside any task while this process runs \d+ services/);
    });
  });

  describe("a value mutated by the receiver is not seen by the sender, and the other way round (copies/)", { concurrency: true }, () => {
    let checks: Map<string, Check>;
    before(async () => {
      ({ checks } = await runFixture(ns, "copies/main.ts"));
    });

    test("call arguments: the callee gets an equal copy, and its changes stay with it", () => {
      const c = check(checks, "call args");
      assert.equal(c.code, null);
      assert.deepEqual(c.seen, { same: false, sameInner: false, equalOnArrival: true });
      assert.equal(c.after, JSON.stringify({ list: [1, 2], inner: { v: 1 } }), "the caller's object is unchanged");
    });

    test("results: the caller gets a copy; its changes do not reach the callee's object", () => {
      const c = check(checks, "results");
      assert.equal(c.code, null);
      assert.equal(c.sameAsStash, false);
      assert.equal(c.again, JSON.stringify({ n: 1, items: ["a"] }));
      assert.equal(c.stash, JSON.stringify({ n: 1, items: ["a"] }));
    });

    test("arguments are copied when the call is made: a change while the handler runs is not seen", () => {
      const c = check(checks, "args changed during the call");
      assert.deepEqual([c.echoed, c.code], [{ v: "before" }, null]);
    });

    test("bytes: a Uint8Array of its own, not the sender's buffer", () => {
      const c = check(checks, "bytes");
      assert.deepEqual(c.seen, { same: false, sameBuffer: false, isBytes: true, first: 1 });
      assert.deepEqual(c.after, [1, 2, 3]);
    });

    test("messages: the receiver gets the message as sent, a copy; neither side sees the other's changes", () => {
      const c = check(checks, "messages");
      assert.deepEqual([c.sendErr, c.code], [null, null]);
      assert.deepEqual(c.seen, { from: "CopyA", same: false, sameNested: false, got: JSON.stringify({ nested: { x: 1 } }) });
      assert.equal(c.after, JSON.stringify({ nested: { x: 999 } }), "the sender's own change is kept, the receiver's (-1) is not seen");
    });
  });

  describe("acceptance: 1 login and 40 rooms in one process (game/)", { concurrency: 1 }, () => {
    let gameNs: NameService;
    let boot: Running;
    let solo: Running;
    const expected = ["login", ...Array.from({ length: 40 }, (_, i) => `room${i + 1}`)];
    before(async () => {
      gameNs = await startNameService();
      boot = startFixture(gameNs, "game/boot.ts");
      solo = startFixture(gameNs, "game/room.ts", ["solo"]);
      await Promise.all([
        waitForCheck(boot, "started", 45_000),
        solo.waitFor(/roomsolo registered with the name service/, 20_000, "stderr"),
      ]);
    });
    after(async () => {
      await Promise.all([boot.stop(5000), solo.stop(5000)]);
      await gameNs.proc.stop(3000);
    });

    test("luanet ls shows all 41, with one and the same PID: the bootstrap's", async () => {
      assert.deepEqual(check(checksOf(boot.stdout), "started").names, expected);
      const rows = await lsUntil(gameNs, "41 services in luanet ls", (r) => expected.every((n) => names(r).includes(n)));
      const ours = rows.filter((r) => r.name !== "roomsolo");
      assert.deepEqual(names(ours).sort(), [...expected].sort());
      assert.deepEqual(new Set(ours.map((r) => r.pid)), new Set([boot.pid]));
      assert.equal(new Set(ours.map((r) => r.addr)).size, 41, "each its own listener");
      assert.equal(rows.find((r) => r.name === "roomsolo")?.pid, solo.pid);
    });

    test("rss of the process with 41 idle services, against one with one service", async (t) => {
      const [many, one] = await Promise.all([tool(gameNs, ["call", "login", "Rss"]), tool(gameNs, ["call", "roomsolo", "Rss"])]);
      assert.equal(many.code, 0, many.stderr);
      assert.equal(one.code, 0, one.stderr);
      const rss41 = Number(many.stdout), rss1 = Number(one.stdout);
      const MiB = 1024 * 1024;
      t.diagnostic(`rss with 41 services: ${(rss41 / MiB).toFixed(1)} MiB; with 1 service: ${(rss1 / MiB).toFixed(1)} MiB; ratio ${(rss41 / rss1).toFixed(2)}`);
      assert.ok(rss1 > 0 && rss41 > 0);
      assert.ok(rss41 < 3 * rss1, `rss41 ${rss41} is not under 3 x rss1 ${rss1}`);
    });

    test("each is callable by name from another process, and they call each other", async () => {
      const client = launch(gameNs, `
        const rooms = Array.from({ length: 40 }, (_, i) => "room" + (i + 1));
        export default function* () {
          const tasks = rooms.map((room) => Sche.Spawn(function* () {
            const [where, err] = yield* luanet.RPCCall<{ room: string; pid: number }>(room, "Where", null, { timeout: 10_000 });
            return err === null ? where : err.code;
          }));
          const [login, loginErr] = yield* luanet.RPCCall("login", "Login", { user: "outsider" }, { timeout: 10_000 });
          const wheres = [];
          for (const task of tasks) wheres.push(yield* task);
          const visits = [];
          for (const room of rooms) {
            const [visit, err] = yield* luanet.RPCCall(room, "Visit", null, { timeout: 10_000 });
            visits.push(err === null ? visit : err.code);
          }
          console.log(JSON.stringify({ check: "calls", login: loginErr === null ? login : loginErr.code, wheres, visits }));
          luanet.Exit(0);
        }
      `, { name: "game-client.ts" });
      const r = await client.exited(30_000);
      assert.equal(r.code, 0, r.stderr);
      const c = check(checksOf(r.stdout), "calls");
      const pid = boot.pid;
      assert.deepEqual(c.login, { user: "outsider", by: "login", from: null, pid });
      assert.deepEqual(c.wheres, Array.from({ length: 40 }, (_, i) => ({ room: `room${i + 1}`, n: String(i + 1), from: null, pid })));
      assert.deepEqual(c.visits, Array.from({ length: 40 }, (_, i) => {
        const me = `room${i + 1}`;
        const next = (i + 1) % 40 + 1;
        return {
          me, loginErr: null, whereErr: null,
          login: { user: me, by: "login", from: me, pid },
          where: { room: `room${next}`, n: String(next), from: me, pid },
        };
      }));
      assert.ok(boot.running);
    });
  });

  describe("NewService's errors, and relative paths (errors/)", { concurrency: true }, () => {
    let checks: Map<string, Check>;
    let output: string;
    let port: number;
    let cwd: string;
    before(async () => {
      [port] = (await freePorts(1)) as [number];
      // The working folder holds decoys with the names the scripts start: resolved against the
      // working folder, they would be run instead (and say so).
      cwd = fixture({
        "sub/child.ts": `console.log("DECOY sub/child.ts ran");\n`,
        "leaf.ts": `console.log("DECOY leaf.ts ran");\n`,
        "sub/leaf.ts": `console.log("DECOY sub/leaf.ts ran");\n`,
        "top-throw.ts": `console.log("DECOY top-throw.ts ran");\n`,
      });
      writeFileSync(join(cwd, "syntax-error.ts"), "const x = (;\n");
      const r = await runFixture(ns, "errors/main.ts", [String(port), join(cwd, "syntax-error.ts")], cwd);
      checks = r.checks;
      output = r.stdout + r.stderr;
    });

    test("a missing script: the yield* throws a LuanetError, code script_load, naming the path it looked for", () => {
      const { threw } = check(checks, "missing script");
      assert.equal(threw.isLuanetError, true);
      assert.equal(threw.code, "script_load");
      assert.match(threw.message, new RegExp(`no such script ${join(fixtures, "errors", "no-such-script.ts").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    });

    test("a script with a syntax error: script_load, naming its file and line", () => {
      const { threw } = check(checks, "syntax error");
      assert.equal(threw.isLuanetError, true);
      assert.equal(threw.code, "script_load");
      assert.match(threw.message, /syntax error in .*syntax-error\.ts:1:\d+/);
    });

    test("a script whose top level throws: NewService throws that very error, and the service is stopped", () => {
      const top = check(checks, "top level throws");
      assert.equal(top.same, true, "the error the script threw, not a copy or a wrapper");
      assert.deepEqual([top.threw.type, top.threw.message], ["TopLevelError", "ErrTop's top level failed"]);
      assert.equal(top.callAfter, "unavailable", "no service ErrTop runs any more");
      // Stopped: its name and its port are free for the next start.
      const again = check(checks, "started again");
      assert.deepEqual([again.again, again.sum, again.code], ["ErrTop", 3, null]);
      assert.equal(again.firstAgain, null, `starting it again at once failed: ${JSON.stringify(again.firstAgain)}`);
    });

    test("NewService with an argument that is not a string: a TypeError at once", () => {
      const { typeError } = check(checks, "bad argument");
      assert.equal(typeError.type, "TypeError");
      assert.match(typeError.message, /^luanet\.NewService\(script, \.\.\.args\): args must be strings/);
    });

    test("a relative path is resolved against the calling script's folder, not the working folder", () => {
      const c = check(checks, "relative paths");
      assert.equal(c.cwd, cwd);
      assert.deepEqual(c.found, [
        { by: "sub/child.ts", script: join(fixtures, "errors/sub/child.ts"), args: ["from main"] },
        { by: "sub/leaf.ts", script: join(fixtures, "errors/sub/leaf.ts"), args: ["from child"] },
      ]);
      assert.doesNotMatch(output, /DECOY/);
    });

    test("a script whose default export throws before its start-up steps finish: NewService throws it and the service is stopped", () => {
      const c = check(checks, "default export throws");
      assert.equal(c.threw?.message, "ErrMain's main failed", `NewService answered ${JSON.stringify(c.name)} instead of throwing`);
      assert.equal(c.callAfter, "unavailable", `ErrMain still answers calls (${c.callAfter})`);
    });
  });
});
