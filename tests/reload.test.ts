/**
 * Hot reload (issue 15, item 5) with real processes: `luanet reload` loads a running service's
 * edited script into its process. Under a steady load every call gets the old or the new result
 * and none fails; a counter in luanet.State keeps counting; a handler running across the reload
 * finishes on the old code; new code that fails to load changes nothing and the tool names file
 * and line; an edited imported file is picked up; .ts, .mts, ES-module .js and CommonJS .js all
 * reload; a group reloads member by member.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { lastJson, poll, prelude, startNameService, tool, type NameService } from "./helpers/cluster.ts";
import { fixture, startLuanet, type Running } from "./helpers/proc.ts";

let ns: NameService;
before(async () => {
  ns = await startNameService();
});
after(async () => {
  await ns?.proc.stop(5000);
});

/** `luanet call <service> <func>`'s JSON answer. */
async function call(service: string, func: string): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await tool(ns, ["call", service, func]);
  assert.equal(r.code, 0, `luanet call ${service} ${func}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const answer = (v: string) => `export const answer = (): string => ${JSON.stringify(v)};\n`;

/** A service `Hot` (.ts, CommonJS): Get answers the imported answer() and a counter kept in
 * luanet.State; Slow answers answer() after 800 ms. */
const hot = (slow = true) => `
import { answer } from "./answer";
luanet.StartLocalService("Hot", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
const counter = luanet.State("counter", () => ({ n: 0 }));
luanet.RegRPCFunction("Get", () => ({ v: answer(), n: ++counter.n }));
${slow ? `luanet.RegRPCFunction("Slow", function* () { const v = answer(); yield* Sche.Sleep(800); return v; });` : ""}
if (!luanet.reloading) console.log("first load");
`;

describe("luanet reload of one service (.ts, CommonJS)", { concurrency: 1 }, () => {
  let svc: Running & { dir: string; file: string };
  before(async () => {
    const dir = fixture({ "hot.ts": prelude + hot(), "answer.ts": answer("old") });
    const file = join(dir, "hot.ts");
    svc = Object.assign(startLuanet([file], { cwd: dir, env: { LUANET_NS: ns.addr } }), { dir, file });
    await svc.waitFor(/registered with the name service/, 15_000, "stderr");
  });
  after(async () => {
    await svc?.stop(5000);
  });

  test("under a steady load every call returns the old or the new result, none fails; State keeps counting; a running handler finishes on the old code", async () => {
    const client = startLuanet([join(fixture({ "client.ts": prelude + `
      export default function* () {
        const seen: string[] = [];
        let bad = 0, newAfter = 0, last = 0, gaps = 0;
        const until = Date.now() + 20_000;
        while (newAfter < 100 && Date.now() < until) {
          const [ret, err] = yield* luanet.RPCCall<{ v: string; n: number }>("Hot", "Get", null, { timeout: 3000 });
          if (err !== null) { bad++; console.log("failed:", err.code, err.message); continue; }
          if (seen[seen.length - 1] !== ret.v) seen.push(ret.v);
          if (ret.n !== last + 1) gaps++;
          last = ret.n;
          if (ret.v === "new") newAfter++;
          if (seen.length === 1 && last === 50) console.log("steady");
          yield* Sche.Sleep(2);
        }
        console.log(JSON.stringify({ seen, bad, gaps, last }));
        luanet.Exit(0);
      }` }), "client.ts")], { env: { LUANET_NS: ns.addr } });
    await client.waitFor(/steady/, 15_000);
    const slow = tool(ns, ["call", "Hot", "Slow"]);
    await new Promise((r) => setTimeout(r, 300)); // Slow is running
    writeFileSync(join(svc.dir, "answer.ts"), answer("new"));
    const r = await tool(ns, ["reload", "Hot"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Hot: reloaded, generation 2, 2 files, \d+ ms\n$/);
    const done = await client.exited(30_000);
    assert.equal(done.code, 0, done.stderr);
    const result = lastJson(done.stdout);
    assert.deepEqual(result, { seen: ["old", "new"], bad: 0, gaps: 0, last: result.last });
    const slowDone = await slow;
    assert.equal(slowDone.code, 0, slowDone.stderr);
    assert.equal(JSON.parse(slowDone.stdout), "old", "the handler running across the reload finished on the old code");
    const after = await call("Hot", "Get");
    assert.deepEqual(after, { v: "new", n: result.last + 1 });
  });

  test("one listener, one registration; luanet.reload is not listed; reloading is true only in the reloaded body", async () => {
    assert.equal(svc.stderr.match(/listening on/g)?.length, 1, svc.stderr);
    assert.equal(svc.stderr.match(/registered with the name service/g)?.length, 1, svc.stderr);
    assert.equal(svc.stdout.match(/first load/g)?.length, 1);
    const ls = await tool(ns, ["ls"]);
    assert.equal(ls.stdout.split("\n").filter((l) => l.startsWith("Hot ")).length, 1, ls.stdout);
    assert.match(ls.stdout, /^Hot .* Get,Slow /m);
  });

  test("a syntax error leaves the old code serving; the tool prints file and line and exits 1", async () => {
    writeFileSync(svc.file, prelude + hot() + "\nconst broken = (;\n");
    const r = await tool(ns, ["reload", "Hot"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^luanet: script_load: Hot: syntax error in ${svc.file.replace(/[.]/g, "\\.")}:\\d+:\\d+: `, "m"));
    assert.equal((await call("Hot", "Get")).v, "new");
  });

  test("a throw at top level of an imported file leaves the old code serving, named by file and line", async () => {
    writeFileSync(svc.file, prelude + hot());
    writeFileSync(join(svc.dir, "answer.ts"), answer("thrown") + `throw new Error("no config");\n`);
    const r = await tool(ns, ["reload", "Hot"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^luanet: script_load: Hot: ${join(svc.dir, "answer.ts").replace(/[.]/g, "\\.")}:2: threw at top level: no config$`, "m"));
    assert.equal((await call("Hot", "Get")).v, "new");
  });

  test("the next good reload works, and a function the new code no longer registers is gone (and unregistered)", async () => {
    writeFileSync(svc.file, prelude + hot(false));
    writeFileSync(join(svc.dir, "answer.ts"), answer("third"));
    const r = await tool(ns, ["reload", "Hot"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Hot: reloaded, generation 3, /);
    assert.equal((await call("Hot", "Get")).v, "third");
    const gone = await tool(ns, ["call", "Hot", "Slow"]);
    assert.match(gone.stderr, /no_such_function/);
    await poll("ls to show Get alone", async () => (/^Hot .* Get /m.test((await tool(ns, ["ls"])).stdout) ? true : undefined));
  });
});

/** Each kind of script: its package.json (if any), the script and the file it imports. */
const matrix: { kind: string; files: (v: string) => Record<string, string>; script: string }[] = [
  {
    kind: ".mts (ES module, top-level await)",
    script: "svc.mts",
    files: (v) => ({
      "svc.mts": prelude + `
import { answer } from "./answer.mts";
await Sche.Await(Promise.resolve());
luanet.StartLocalService("HotMts", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
const counter = luanet.State("counter", () => ({ n: 0 }));
luanet.RegRPCFunction("Get", () => ({ v: answer(), n: ++counter.n }));`,
      "answer.mts": answer(v),
    }),
  },
  {
    kind: '.js ES module ("type": "module", top-level await)',
    script: "svc.js",
    files: (v) => ({
      "package.json": `{ "type": "module" }`,
      "svc.js": `
import * as net from "luanet/net";
import { answer } from "./answer.js";
await Promise.resolve();
luanet.StartLocalService("HotEsm", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(net.parseAddr(process.env.LUANET_NS));
const counter = luanet.State("counter", () => ({ n: 0 }));
luanet.RegRPCFunction("Get", () => ({ v: answer(), n: ++counter.n }));`,
      "answer.js": `export const answer = () => ${JSON.stringify(v)};\n`,
    }),
  },
  {
    kind: ".js CommonJS",
    script: "svc.js",
    files: (v) => ({
      "svc.js": `
const net = require("luanet/net");
const { answer } = require("./answer.js");
luanet.StartLocalService("HotCjs", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(net.parseAddr(process.env.LUANET_NS));
const counter = luanet.State("counter", () => ({ n: 0 }));
luanet.RegRPCFunction("Get", () => ({ v: answer(), n: ++counter.n }));`,
      "answer.js": `exports.answer = () => ${JSON.stringify(v)};\n`,
    }),
  },
];

describe("every kind of script reloads, an edited imported file picked up", () => {
  for (const { kind, files, script } of matrix) {
    test(kind, async () => {
      const dir = fixture(files("old"));
      const name = /"(Hot\w+)"/.exec(files("")[script]!)![1]!;
      const svc = startLuanet([join(dir, script)], { cwd: dir, env: { LUANET_NS: ns.addr } });
      try {
        await svc.waitFor(/registered with the name service/, 15_000, "stderr");
        assert.deepEqual(await call(name, "Get"), { v: "old", n: 1 });
        const answerFile = Object.keys(files("")).find((f) => f.startsWith("answer"))!;
        writeFileSync(join(dir, answerFile), files("new")[answerFile]!);
        const r = await tool(ns, ["reload", name]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^${name}: reloaded, generation 2, 2 files, \\d+ ms\\n$`));
        assert.deepEqual(await call(name, "Get"), { v: "new", n: 2 });
        // and again: each reload is a fresh graph (for ES modules, a new generation of URLs)
        writeFileSync(join(dir, answerFile), files("newer")[answerFile]!);
        assert.equal((await tool(ns, ["reload", name])).code, 0);
        assert.deepEqual(await call(name, "Get"), { v: "newer", n: 3 });
        assert.equal(svc.stderr.match(/listening on/g)?.length, 1);
      } finally {
        await svc.stop(5000);
      }
    });
  }
});

describe("luanet reload of a group", () => {
  test("reloads its members one at a time, one line each; a failure stops there and exits 1", async () => {
    const room = (v: string) => prelude + `
luanet.StartLocalService(luanet.args[0]!, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(NS);
luanet.JoinGroup("HotRoom");
luanet.RegRPCFunction("Get", () => ${JSON.stringify(v)});`;
    const dir = fixture({ "room.ts": room("old") });
    const rooms = ["HotRoom-1", "HotRoom-2"].map((n) => startLuanet([join(dir, "room.ts"), n], { cwd: dir, env: { LUANET_NS: ns.addr } }));
    try {
      await Promise.all(rooms.map((r) => r.waitFor(/registered with the name service/, 15_000, "stderr")));
      await poll("both members in the group", async () => (/^HotRoom\s+2\s/m.test((await tool(ns, ["ls"])).stdout) ? true : undefined));
      writeFileSync(join(dir, "room.ts"), room("new"));
      const r = await tool(ns, ["reload", "HotRoom"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^HotRoom-1: reloaded, generation 2, 1 files, \d+ ms\nHotRoom-2: reloaded, generation 2, 1 files, \d+ ms\n$/);
      assert.equal(await call("HotRoom-1", "Get"), "new");
      assert.equal(await call("HotRoom-2", "Get"), "new");
      assert.equal(await call("HotRoom", "Get"), "new");
      writeFileSync(join(dir, "room.ts"), room("new") + "\nthrow new TypeError('bad room');\n");
      const bad = await tool(ns, ["reload", "HotRoom"]);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, "");
      assert.match(bad.stderr, /^luanet: script_load: HotRoom-1: .*room\.ts:\d+: threw at top level: TypeError: bad room\nluanet: not reloaded: HotRoom-2 \(HotRoom-1 failed\)\n$/);
      assert.equal(await call("HotRoom", "Get"), "new");
    } finally {
      await Promise.all(rooms.map((r) => r.stop(5000)));
    }
  });
});

describe("luanet.State and reserved names", () => {
  test("State is per service (two NewService instances of one script), init runs once; bad arguments and luanet.* names are TypeErrors", async () => {
    const dir = fixture({
      "main.ts": prelude + `
const mine = luanet.State("s", () => ({ n: 100 }));
mine.n++;
const inits: number[] = [];
luanet.State("once", () => inits.push(1));
luanet.State("once", () => inits.push(2));
const errors: string[] = [];
for (const f of [() => luanet.State("", () => 1), () => luanet.State("k", 1 as any), () => luanet.RegRPCFunction("luanet.reload", () => 1)]) {
  try { f(); errors.push("none"); } catch (e) { errors.push((e as Error).constructor.name + ": " + (e as Error).message); }
}
export default function* () {
  const a = yield* luanet.NewService("child.ts", "a");
  const b = yield* luanet.NewService("child.ts", "b");
  console.log(JSON.stringify({ a, b, main: luanet.State("s", () => ({ n: -1 })).n, inits, errors }));
  luanet.Exit(0);
}`,
      "child.ts": prelude + `
const s = luanet.State("s", () => ({ n: 0 }));
s.n++;
luanet.StartLocalService("child-" + luanet.args[0] + "-" + s.n, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));`,
    });
    const done = await startLuanet([join(dir, "main.ts")], { cwd: dir, env: { LUANET_NS: ns.addr } }).exited(20_000);
    assert.equal(done.code, 0, done.stderr);
    const out = lastJson(done.stdout);
    assert.equal(out.a, "child-a-1");
    assert.equal(out.b, "child-b-1", "the second instance has its own State");
    assert.equal(out.main, 101);
    assert.deepEqual(out.inits, [1]);
    assert.match(out.errors[0], /^TypeError: luanet\.State\(key, init\): key must be a non-empty string/);
    assert.match(out.errors[1], /^TypeError: luanet\.State\(key, init\): init must be a function/);
    assert.match(out.errors[2], /^TypeError: luanet\.RegRPCFunction\(name, fn\): names beginning "luanet\." are reserved/);
  });
});
