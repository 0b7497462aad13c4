/**
 * The chat sample (samples/chat/, issue 18): a gate with Login.Verify as its auth, three Room
 * members in the group Room, and the page the gate serves. In real processes (a name service,
 * Login, Room1-3 and Gate1 each in its own): two headless Chromium pages log in, join room 7
 * and each sees the other's chat, though the two players are held by different Room members;
 * luanet/client and raw frames for what a client may not do; and demo.ts as a user runs it,
 * stopping every process it started.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium, noChromium } from "./helpers/browser.ts";
import { after, before, describe, test } from "node:test";
import { Decoder, Encoder } from "cbor-x";
import WebSocket from "ws";
import { connect, type Connection } from "luanet/client";
import { startNameService, type NameService } from "./helpers/cluster.ts";
import { root, startLuanet, type Running } from "./helpers/proc.ts";
import type { JoinResult } from "../samples/chat/contract.ts";

// What the page.evaluate callbacks use of the browser's globals (they run in the page, not here).
declare const window: { pwned?: number };

const sample = (file: string) => join(root, "samples", "chat", file);
const BUNDLE = join(root, "dist", "client", "luanet-client.js");
const GATE_LINE = /chat page on (http:\/\/\S+) \(gate Gate1: ws:\/\/(\S+)\)/;

let ns: NameService;
const procs: Running[] = [];
let pageUrl: string;
let wsUrl: string;
const clients: Connection[] = [];

before(async () => {
  ns = await startNameService();
  const env = { LUANET_NS: ns.addr, LUANET_LOG_LEVEL: "warn" };
  const start = (args: string[], ready: RegExp) => {
    const p = startLuanet([sample(args[0]!), ...args.slice(1)], { env });
    procs.push(p);
    return p.waitFor(ready, 20_000);
  };
  const [, , , , gate] = await Promise.all([
    start(["login.ts"], /Login registered/),
    ...["Room1", "Room2", "Room3"].map((room) => start(["room.ts", room], new RegExp(`${room} joined the group Room`))),
    start(["gate.ts", "Gate1", "127.0.0.1:0", "127.0.0.1:0"], GATE_LINE),
  ]);
  pageUrl = gate![1]!;
  wsUrl = `ws://${gate![2]!}`;
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(procs.map((p) => p.stop(5000)));
  await ns?.proc.stop(5000);
});

type Player = Awaited<ReturnType<typeof player>>;

/** A player logged in as `name`, closed when the file ends; its pushes collected. */
async function player(name: string) {
  const c = await connect(wsUrl, { auth: { name }, timeout: 5000 });
  clients.push(c);
  const pushes: { route: string; msg: Record<string, unknown> }[] = [];
  const waiters = new Set<() => void>();
  c.on("message", (route, msg) => {
    pushes.push({ route, msg: msg as Record<string, unknown> });
    for (const w of [...waiters]) w();
  });
  /** The first push matching, waited for at most 5 s. */
  const heard = (route: string, match: Record<string, unknown>) => new Promise<Record<string, unknown>>((resolve, reject) => {
    const find = () => pushes.find((p) => p.route === route && Object.entries(match).every(([k, v]) => p.msg[k] === v))?.msg;
    const check = () => {
      const found = find();
      if (found === undefined) return;
      clearTimeout(timer);
      waiters.delete(check);
      resolve(found);
    };
    const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`${name} did not hear ${route} ${JSON.stringify(match)} within 5 s; heard ${JSON.stringify(pushes)}`))), 5000);
    waiters.add(check);
    check();
  });
  return { c, pushes, heard };
}

describe("chat in headless Chromium", { concurrency: 1 }, () => {
  test("two pages log in, join room 7 (held by different Room members), and each sees the other's chat, as text; a page that closes is said to have left",
    { skip: noChromium }, async () => {
      assert.ok(existsSync(BUNDLE), `${BUNDLE}: run npm run build`);
      const browser = await launchChromium();
      try {
        const errors: string[] = [];
        const open = async (name: string) => {
          const page = await browser.newPage(); // a context each: two separate players
          page.setDefaultTimeout(10_000);
          page.on("pageerror", (e) => errors.push(`${name}: ${e}`));
          page.on("console", (m) => void (m.type() === "error" && errors.push(`${name}: ${m.text()}`)));
          await page.goto(pageUrl);
          await page.fill("#name", name);
          await page.fill("#room", "7");
          await page.click("#join");
          await page.locator("#status", { hasText: `in room 7 as ${name}` }).waitFor();
          return page;
        };
        const ann = await open("ann");
        const bob = await open("bob");
        // Which member holds a uid is the rendezvous hash's choice over Room1-3, the same on
        // every run: ann and bob land on different ones, so the chat crosses members.
        const servedBy = async (page: typeof ann) => /served by (Room\d)/.exec(await page.locator("#status").textContent() ?? "")?.[1];
        const [annRoom, bobRoom] = [await servedBy(ann), await servedBy(bob)];
        assert.ok(annRoom && bobRoom && annRoom !== bobRoom, `ann on ${annRoom}, bob on ${bobRoom}: the test needs two members`);
        await ann.locator("#log li.joined", { hasText: "bob joined room 7" }).waitFor();
        assert.equal(await bob.locator("#members").textContent(), "here: ann, bob");

        const say = async (page: typeof ann, text: string) => {
          await page.locator("#text:enabled").fill(text);
          await page.press("#text", "Enter");
        };
        const chatLine = (page: typeof ann, from: string, text: string) =>
          page.locator("#log li.said").filter({ has: page.locator(".from", { hasText: from }) }).filter({ has: page.locator(".text", { hasText: text }) });
        await say(ann, "hello from ann");
        await say(bob, "hi ann, bob here");
        await chatLine(bob, "ann", "hello from ann").waitFor();
        await chatLine(ann, "bob", "hi ann, bob here").waitFor();
        await chatLine(ann, "ann", "hello from ann").waitFor(); // the speaker is in the channel too

        // Markup from another player shows as that text; nothing of it runs.
        const hostile = `<img src=x onerror="window.pwned=1">`;
        await say(bob, hostile);
        const line = chatLine(ann, "bob", "<img");
        await line.waitFor();
        assert.equal(await line.locator(".text").textContent(), hostile);
        assert.equal(await ann.locator("#log img").count(), 0);
        assert.equal(await ann.evaluate(() => window.pwned), undefined);

        await bob.close();
        await ann.locator("#log li.left", { hasText: "bob left room 7 (closed)" }).waitFor();
        await ann.locator("#members", { hasText: /^here: ann$/ }).waitFor();
        assert.deepEqual(errors, []);
      } finally {
        await browser.close();
      }
    });
});

describe("chat through luanet/client", { concurrency: 1 }, () => {
  test("players on different Room members hear each other; one who moves to another room leaves the first; Login refuses a bad name", async () => {
    // Two names the uid key puts on different members (Join says which).
    const kept: { name: string; p: Player; server: string }[] = [];
    for (const name of ["dee", "eve", "fay", "gus", "hal"]) {
      const p = await player(name);
      const [r, err] = await p.c.request<JoinResult>("Room.Join", { room: 70 });
      assert.equal(err, null);
      assert.equal(r!.room, 70);
      assert.deepEqual(r!.members, [...kept.map((k) => k.name), name].sort(), "each member holds its own players; Join asks them all");
      if (kept.some((k) => k.server === r!.server)) {
        p.c.close();
        await kept[0]!.p.heard("left", { room: 70, name, reason: "closed" });
        continue;
      }
      kept.push({ name, p, server: r!.server });
      if (kept.length === 2) break;
    }
    assert.equal(kept.length, 2, "two of five names on different members");
    const [{ name: a, p: pa }, { name: b, p: pb, server: bServer }] = kept as [typeof kept[0], typeof kept[0]];
    const [joined] = await pa.c.request<JoinResult>("Room.Join", { room: 70 }); // again: no change
    assert.deepEqual(joined!.members, [a, b].sort());

    const [said, sayErr] = await pa.c.request<{ sent: number }>("Room.Say", { text: `${a} here` });
    assert.equal(sayErr, null);
    assert.equal(said!.sent, 2);
    await pb.heard("said", { room: 70, from: a, text: `${a} here` });
    pb.c.send("Room.Say", { text: `${b} too` });
    await pa.heard("said", { room: 70, from: b, text: `${b} too` });

    const [moved] = await pb.c.request<JoinResult>("Room.Join", { room: 71 });
    assert.deepEqual(moved, { room: 71, members: [b], server: bServer });
    await pa.heard("left", { room: 70, name: b, reason: "moved" });
    await pa.c.request("Room.Say", { text: "anyone?" });
    await pa.heard("said", { text: "anyone?" });
    assert.equal(pb.pushes.some((p) => p.msg.text === "anyone?"), false, `${b} left room 70: ${JSON.stringify(pb.pushes)}`);

    await assert.rejects(connect(wsUrl, { auth: { name: "no spaces allowed" }, timeout: 5000 }), (e: { code: string; message: string }) => e.code === "bad_name" && /1 to 24 letters/.test(e.message));
    await assert.rejects(connect(wsUrl, { auth: {}, timeout: 5000 }), (e: { code: string }) => e.code === "bad_name");
  });

  test("a client reaches only client functions: Room.Members and a made-up one are no_such_function, Login and a member by name are not routed; bad Join and Say arguments are bad_request", async () => {
    const { c } = await player("ivy");
    for (const route of ["Room.Members", "Room.Nope"]) {
      const [r, err] = await c.request(route, { room: 7 });
      assert.equal(r, null);
      assert.equal(err?.code, "no_such_function", `${route}: ${err?.code} ${err?.message}`);
    }
    // The gate routes to the group Room only (StartGate({ services: ["Room"] })).
    for (const route of ["Login.Verify", "Room1.Join"]) {
      const [r, err] = await c.request(route, { room: 7 });
      assert.equal(r, null);
      assert.equal(err?.code, "unavailable", `${route}: ${err?.code} ${err?.message}`);
      assert.match(err!.message, /routes to Room only/);
    }
    const [, notIn] = await c.request("Room.Say", { text: "hello?" });
    assert.equal(notIn?.code, "not_in_room");
    for (const args of [{ room: "7" }, { room: 0 }, { room: 1.5 }, null]) {
      const [, err] = await c.request("Room.Join", args);
      assert.equal(err?.code, "bad_request", JSON.stringify(args));
      assert.match(err!.message, /room must be a whole number/);
    }
    await c.request("Room.Join", { room: 72 });
    for (const args of [{ text: "x".repeat(501) }, { text: "   " }, { text: 5 }, {}]) {
      const [, err] = await c.request("Room.Say", args);
      assert.equal(err?.code, "bad_request", JSON.stringify(args).slice(0, 40));
    }
    const [ok, err] = await c.request<{ sent: number }>("Room.Say", { text: "x".repeat(500) });
    assert.equal(err, null);
    assert.equal(ok!.sent, 1);
  });
});

describe("chat through raw frames", { concurrency: 1 }, () => {
  test("before AUTH every request is not_authenticated; after it, Room.Join works and Room.Members still does not", async () => {
    const enc = new Encoder({ useRecords: false });
    const dec = new Decoder({ useRecords: false });
    const ws = new WebSocket(wsUrl);
    const frames: unknown[][] = [];
    let wake = () => {};
    ws.on("message", (data: Buffer) => {
      frames.push(dec.decode(data) as unknown[]);
      wake();
    });
    /** The next frame, within 5 s. */
    const next = () => new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame within 5 s (had ${JSON.stringify(frames)})`)), 5000);
      const check = () => {
        const f = frames.shift();
        if (f === undefined) return;
        clearTimeout(timer);
        wake = () => {};
        resolve(f);
      };
      wake = check;
      check();
    });
    try {
      await new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      });
      const hello = await next();
      assert.equal(hello[0], 0);
      assert.equal(hello[4], true, "the gate asks for AUTH");
      ws.send(enc.encode([2, 1, "Room.Join", { room: 7 }]));
      const refused = await next();
      assert.deepEqual(refused.slice(0, 3), [6, 1, "not_authenticated"]);
      ws.send(enc.encode([1, 2, { name: "raw" }]));
      assert.deepEqual(await next(), [5, 2, { uid: "raw", name: "raw" }]);
      ws.send(enc.encode([2, 3, "Room.Members", { room: 7 }]));
      assert.deepEqual((await next()).slice(0, 3), [6, 3, "no_such_function"]);
      ws.send(enc.encode([2, 4, "Room.Join", { room: 73 }]));
      const pushOrReply = [await next(), await next()].sort((x, y) => (x[0] as number) - (y[0] as number));
      assert.deepEqual(pushOrReply[0]!.slice(0, 2), [5, 4]);
      assert.deepEqual(pushOrReply[1], [7, "joined", { room: 73, name: "raw" }]);
    } finally {
      ws.terminate();
    }
  });
});

describe("the page server", { concurrency: 1 }, () => {
  test("serves the page, the client bundle and the gate's address; nothing else, and only GET", async () => {
    const page = await fetch(pageUrl);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await page.text(), /import \{ connect \} from "\/luanet-client\.js"/);
    const js = await fetch(new URL("/luanet-client.js", pageUrl));
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.equal(await js.text(), readFileSync(BUNDLE, "utf8"));
    const config = await (await fetch(new URL("/config.json", pageUrl))).json() as { host: string; port: number };
    assert.equal(`ws://${config.host}:${config.port}`, wsUrl);
    for (const path of ["/gate.ts", "/../../package.json", "/%2e%2e/package.json", "/index.html/x"]) {
      assert.equal((await fetch(new URL(path, pageUrl))).status, 404, path);
    }
    assert.equal((await fetch(pageUrl, { method: "POST", body: "x" })).status, 405);
  });
});

describe("demo.ts", { concurrency: 1 }, () => {
  /** The PIDs of `pid`'s children (Linux: /proc/<pid>/task/<tid>/children). */
  const childrenOf = (pid: number): number[] =>
    readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
  const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  let demo: Running | null = null;
  let started: number[] = [];
  after(() => {
    // Its children are in process groups of their own: found by PID while it runs, killed so too.
    if (demo?.running) started.push(...childrenOf(demo.pid));
    for (const pid of started) if (alive(pid)) process.kill(pid, "SIGKILL");
  });

  test("from a bare machine: a name service and the game in one process, the page URL printed; a chat round works; SIGTERM stops every process it started",
    { skip: existsSync("/proc/self/task") ? false : "needs Linux's /proc to find the demo's children" }, async () => {
      demo = startLuanet([sample("demo.ts"), "one", "127.0.0.1:0", "127.0.0.1:0"]);
      const m = await demo.waitFor(/chat page on (http:\/\/\S+) \(players connect to (ws:\/\/\S+)\)\n/, 25_000);
      started = childrenOf(demo.pid);
      assert.ok(started.length >= 2, `a name service and world.ts: ${started}`);
      assert.match(demo.stdout, /^name service on 127\.0\.0\.1:\d+; Login, Room1, Room2, Room3 and Gate1 run in one process \(world\.ts\)$/m);
      assert.equal((await fetch(m[1]!)).status, 200);

      const c = await connect(m[2]!, { auth: { name: "zed" }, timeout: 5000 });
      clients.push(c);
      const said = new Promise<unknown>((resolve) => c.on("message", (route, msg) => route === "said" && resolve(msg)));
      const [joined, err] = await c.request("Room.Join", { room: 1 });
      assert.equal(err, null);
      assert.deepEqual((joined as { members: string[] }).members, ["zed"]);
      c.send("Room.Say", { text: "alone" });
      assert.deepEqual(await Promise.race([said, new Promise((r) => setTimeout(() => r("nothing within 5 s"), 5000))]), { room: 1, from: "zed", text: "alone" });

      const closed = new Promise<string>((resolve) => c.on("close", (reason) => resolve(reason)));
      assert.equal(await demo.stop(15_000), true, "the demo exits on SIGTERM, without a SIGKILL");
      assert.equal(await Promise.race([closed, new Promise((r) => setTimeout(() => r("still open after 5 s"), 5000))]), "shutting_down");
      assert.deepEqual(started.filter(alive), [], "every process the demo started has exited");
    });
});
