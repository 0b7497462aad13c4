/**
 * Gates (issue 18) with real processes and sockets: a name service, the service Game (auth,
 * client functions, a session-end watcher) in a process of its own, and gates in others. Clients
 * are raw (tests/helpers/gate-client.ts), so they can also misbehave.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startNameService, type NameService } from "./helpers/cluster.ts";
import { ERROR, PUSH, RawClient, REPLY, type Frame } from "./helpers/gate-client.ts";
import { root, runScript, startLuanet, type Running } from "./helpers/proc.ts";

const fixtures = join(root, "tests/fixtures/gate");
const ends = (game: Running) => game.stdout.split("\n").filter((l) => l.startsWith("END ")).map((l) => JSON.parse(l.slice(4)) as { id: string; uid: string; gate: string; reason: string });

describe("gates", () => {
  let ns: NameService;
  let game: Running;
  const gates = new Map<string, { proc: Running; ws: number; tcp: number }>();
  const clients: RawClient[] = [];

  async function startGate(name: string, options: Record<string, unknown> = {}): Promise<void> {
    const proc = startLuanet([join(fixtures, "gate.ts"), name], { env: { LUANET_NS: ns.addr, GATE_OPTIONS: JSON.stringify(options) } });
    const m = await proc.waitFor(new RegExp(`GATE ${name} (\\d+) (\\d+)`), 20_000);
    await proc.waitFor(/registered with the name service/, 10_000, "stderr");
    gates.set(name, { proc, ws: Number(m[1]), tcp: Number(m[2]) });
  }

  async function open(gate: string, transport: "ws" | "tcp" = "ws"): Promise<{ c: RawClient; session: string }> {
    const g = gates.get(gate)!;
    const c = await (transport === "ws" ? RawClient.ws(g.ws) : RawClient.tcp(g.tcp));
    clients.push(c);
    const hello = await c.hello();
    return { c, session: hello[2] as string };
  }

  /** A client logged in as `uid`. */
  async function player(gate: string, uid: string, transport: "ws" | "tcp" = "ws"): Promise<{ c: RawClient; session: string }> {
    const p = await open(gate, transport);
    const r = await p.c.call(null, { token: uid });
    assert.deepEqual(r, [REPLY, r[1], { uid, level: 1 }]);
    return p;
  }

  const endOf = (session: string, ms = 10_000) => game.until(`the end of ${session}`, () => ends(game).find((e) => e.id === session), ms);

  before(async () => {
    ns = await startNameService();
    game = startLuanet([join(fixtures, "game.ts")], { env: { LUANET_NS: ns.addr } });
    await game.waitFor(/registered with the name service/, 20_000, "stderr");
    await Promise.all([
      startGate("Gate1", { maxQueueBytes: 262_144 }),
      startGate("Gate2", { services: ["Game"] }),
      startGate("Gate3", { maxClientsPerAddress: 3, rateLimit: 5, maxPending: 2, maxRequestBytes: 1024, heartbeatMs: 400, authTimeoutMs: 700 }),
    ]);
  });
  after(() => {
    for (const c of clients) c.terminate();
  });

  test("HELLO first; before AUTH nothing is routed; AUTH binds the uid that handlers see in ctx.session", async () => {
    const { c, session } = await open("Gate1");
    assert.match(session, /^[A-Za-z0-9]+\.\d+@Gate1$/);
    assert.deepEqual((await c.call("Game.Echo", 1)).slice(2), ["not_authenticated", "send AUTH first: this gate routes nothing before it"]);
    assert.equal((await c.call(null, { token: "bad" }))[2], "auth_failed");
    assert.deepEqual((await c.call(null, { token: "ann" })).slice(2), [{ uid: "ann", level: 1 }]);
    assert.equal((await c.call(null, { token: "ann" }))[2], "bad_request", "a second AUTH");
    const who = await c.call("Game.WhoAmI", null);
    assert.deepEqual(who.slice(2), [{ id: session, uid: "ann", gate: "Gate1", data: { level: 1 } }]);
    assert.deepEqual((await c.call("Game.Set", { k: "room", v: 7 })).slice(2), ["set"]);
    assert.deepEqual(((await c.call("Game.WhoAmI", null))[2] as { data: unknown }).data, { level: 1, room: 7 });
  });

  test("a client reaches only functions registered with RegClientFunction", async () => {
    const { c } = await player("Gate1", "bob");
    const internal = await c.call("Game.Internal", null);
    const missing = await c.call("Game.Nope", null);
    assert.deepEqual(internal.slice(2), ["no_such_function", 'Game has no function "Internal"']);
    assert.deepEqual(missing.slice(2), ["no_such_function", 'Game has no function "Nope"'], "the same answer as for a function that is not there");
    assert.equal((await c.call("Game.Verify", { token: "x" }))[2], "no_such_function", "the auth function is not a client function");
    assert.equal((await c.call("nodot", null))[2], "bad_request");
    assert.deepEqual((await c.call("Game.Echo", { x: [1, "two"] })).slice(2), [{ x: [1, "two"] }]);
    // Random service names: a few new ones a second are looked up, the rest refused at once.
    for (let i = 0; i < 8; i++) c.send([2, 1000 + i, `Nobody${i}.F`, null]);
    const refused = await c.next((f) => f[0] === ERROR && String(f[3]).includes("new service names a second"), 5000, "a refused new name");
    assert.equal(refused[2], "unavailable");
    assert.deepEqual((await c.call("Game.Set", { k: "big", v: "x".repeat(20_000) })).slice(2), ["too_large"], "session data is bounded");
  });

  test("StartGate({ services }) routes to those names only", async () => {
    const { c } = await player("Gate2", "only");
    assert.deepEqual((await c.call("Other.F", null)).slice(2), ["unavailable", "this gate routes to Game only, not to Other"]);
    assert.equal((await c.call("Game.Echo", 2))[2], 2);
  });

  test("TCP clients speak the same frames behind a 4-byte length", async () => {
    const { c, session } = await player("Gate2", "tcp-tom", "tcp");
    assert.equal(((await c.call("Game.WhoAmI", null))[2] as { id: string }).id, session);
    c.send([4]);
    await c.next((f) => f[0] === 9, 5000, "PONG");
  });

  test("a push reaches a client on the other of two gates; an ended session's push is no_such_session", async () => {
    const a = await player("Gate1", "alice");
    const b = await player("Gate2", "bert");
    assert.deepEqual((await a.c.call("Game.PushTo", { to: b.session, msg: { hi: "from alice" } })).slice(2), ["pushed"]);
    assert.deepEqual(await b.c.next((f) => f[0] === PUSH), [PUSH, "note", { hi: "from alice" }]);
    const gone = await player("Gate2", "gone");
    gone.c.terminate();
    await endOf(gone.session);
    assert.deepEqual((await a.c.call("Game.PushTo", { to: gone.session, msg: 1 })).slice(2), ["no_such_session"]);
    assert.equal(ends(game).find((e) => e.id === gone.session)?.reason, "closed");
  });

  test("a slow-reading client is dropped at its byte bound while 100 others get every broadcast", async () => {
    const players = await Promise.all(Array.from({ length: 100 }, (_, i) => player("Gate1", `p${i}`)));
    const slow = await player("Gate1", "slow", "tcp"); // (ws's client resumes a paused socket by itself)
    for (const p of [...players, slow]) assert.deepEqual((await p.c.call("Game.Join", { channel: "flood" })).slice(2), [true]);
    slow.c.pause();
    // 6.5 MB to each, in bursts of 8 broadcasts: more than loopback's kernel buffers take for the
    // slow one (about 4 MB sent, 128 KiB received) plus maxQueueBytes. Each burst waits until the
    // 100 have all of it, so they never fall behind, however loaded the machine.
    const n = 400;
    const burst = 8;
    const pushes = (p: { c: RawClient }) => p.c.frames.filter((f) => f[0] === PUSH).length;
    let queued = 0; // every broadcast queued to the 100, and to the slow one until it was dropped
    for (let from = 0; from < n; from += burst) {
      const flood = await players[0]!.c.call("Game.Flood", { channel: "flood", from, n: burst, size: 16_384 }, 30_000);
      assert.equal(flood[0], REPLY, `Flood failed: ${JSON.stringify(flood)}`);
      queued += flood[2] as number;
      for (const p of players) {
        await p.c.until(() => pushes(p) >= from + burst, 30_000, `${from + burst} broadcasts`).catch(() => assert.fail(`${p.session} got ${pushes(p)} of ${from + burst} broadcasts`));
      }
    }
    const end = await endOf(slow.session);
    assert.equal(end.reason, "too_slow");
    for (const p of players) {
      const seq = p.c.frames.filter((f): f is Frame => f[0] === PUSH).map((f) => (f[2] as { i: number }).i);
      const bad = seq.findIndex((x, i) => x !== i);
      assert.ok(seq.length === n && bad < 0, `${p.session}: ${seq.length} broadcasts, the first out of order at ${bad}: ${JSON.stringify(seq.slice(Math.max(0, bad - 3), bad + 3))}`);
      p.c.frames.length = 0;
    }
    assert.ok(queued >= n * 100 && queued < n * 101, `queued ${queued}`);
  });

  test("Kick tells the client why and ends its session", async () => {
    const { c, session } = await player("Gate2", "kicked");
    const kick = c.kicked();
    await c.call("Game.KickMe", null).catch(() => null);
    assert.deepEqual(await kick, [8, "kicked", "you asked for it"]);
    await c.done;
    assert.equal((await endOf(session)).reason, "kicked");
  });

  test("limits: per-address cap, displacement, rate, pending, size, garbage, duplicate ids", async () => {
    const first = await player("Gate3", "l1");
    await player("Gate3", "l2");
    const unauthed = await open("Gate3");
    const newcomer = await open("Gate3");
    assert.deepEqual((await unauthed.c.kicked()).slice(0, 2), [8, "displaced"], "a newcomer takes an unauthenticated session's place");
    assert.equal((await newcomer.c.call(null, { token: "l3" }))[0], REPLY);
    const refused = await RawClient.ws(gates.get("Gate3")!.ws);
    clients.push(refused);
    assert.deepEqual((await refused.kicked()).slice(0, 2), [8, "address_full"]);

    // 5 a second in bursts of 10: some of 14 at once are refused.
    const answers = await Promise.all(Array.from({ length: 14 }, () => first.c.call("Game.Echo", 1)));
    assert.ok(answers.some((a) => a[2] === "rate_limited"), JSON.stringify(answers));
    await new Promise((r) => setTimeout(r, 800)); // the allowance refills
    const slow = await Promise.all([first.c.call("Game.Slow", { ms: 200 }), first.c.call("Game.Slow", { ms: 200 }), first.c.call("Game.Slow", { ms: 200 })]);
    assert.deepEqual(slow.map((a) => a[2]).sort(), [200, 200, "overloaded"].sort() as unknown[]);
    await new Promise((r) => setTimeout(r, 500));
    first.c.send([2, 99, "Game.Slow", { ms: 100 }]);
    first.c.send([2, 99, "Game.Slow", { ms: 100 }]);
    assert.deepEqual((await first.c.next((f) => f[1] === 99)).slice(0, 3), [ERROR, 99, "bad_request"]);
    first.c.sendRaw(new Uint8Array([0xff, 0x00, 0x13]));
    assert.equal((await first.c.kicked())[1], "protocol");
    for (const c of [first.c, newcomer.c]) c.terminate();
    await gates.get("Gate3")!.proc.until("Gate3's places free", () => undefined, 300).catch(() => null);
  });

  test("limits: a frame over maxRequestBytes, silence, no AUTH in time", async () => {
    const tcp = await player("Gate3", "big", "tcp");
    tcp.c.send([2, 1, "Game.Echo", "y".repeat(2000)]);
    assert.equal((await tcp.c.kicked())[1], "too_large");
    const ws = await player("Gate3", "bigws");
    ws.c.send([2, 1, "Game.Echo", "y".repeat(2000)]);
    await ws.c.done; // ws closes with 1009 itself
    const silent = await player("Gate3", "silent");
    assert.equal((await silent.c.kicked(5000))[1], "heartbeat_timeout");
    const lazy = await open("Gate3");
    assert.equal((await lazy.c.kicked(5000))[1], "auth_timeout");
  });

  test("a gate that stops (SIGTERM) kicks its clients shutting_down, and the watchers hear it", async () => {
    const a = await player("Gate3", "t1");
    await new Promise((r) => setTimeout(r, 200)); // the started event reaches the watcher
    gates.get("Gate3")!.proc.child.kill("SIGTERM");
    assert.equal((await a.c.kicked(10_000))[1], "shutting_down");
    assert.equal((await endOf(a.session)).reason, "shutting_down");
    assert.ok(await gates.get("Gate3")!.proc.stop(10_000), "the gate's process exits");
  });

  test("bad StartGate options are a TypeError naming the option", async () => {
    const r = await runScript(`
      import * as net from "luanet/net";
      luanet.StartLocalService("G", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      for (const o of [{}, { ws: "nowhere" }, { ws: "127.0.0.1:0", auth: "NoDot" }, { ws: "127.0.0.1:0", maxClients: 0 }, { ws: "127.0.0.1:0", colour: 1 }, { ws: "127.0.0.1:0", routes: { Room: { key: "seat" } } }]) {
        try { luanet.StartGate(o as never); console.log("accepted", JSON.stringify(o)); } catch (e) { console.log((e as Error).name + ": " + (e as Error).message); }
      }
      luanet.Exit(0);
    `);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 6, r.stdout + r.stderr);
    for (const line of lines) assert.match(line, /^TypeError: luanet\.StartGate\(options\): /);
    assert.match(lines[1]!, /options\.ws must be "host:port"/);
    assert.match(lines[2]!, /options\.auth must be "Service\.Func"/);
    assert.match(lines[3]!, /options\.maxClients must be an integer of at least 1, got 0/);
    assert.match(lines[4]!, /unknown option "colour"/);
    assert.match(lines[5]!, /routes\["Room"\]\.key must be "uid", "session" or "none"/);
  });

  test("a killed gate's sessions end, with reason gate_lost", async () => {
    const a = await player("Gate2", "k1");
    const b = await player("Gate2", "k2", "tcp");
    await new Promise((r) => setTimeout(r, 200)); // the started events reach the watcher
    gates.get("Gate2")!.proc.child.kill("SIGKILL");
    for (const s of [a.session, b.session]) assert.equal((await endOf(s)).reason, "gate_lost");
    await a.c.done;
  });
});
