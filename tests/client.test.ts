/**
 * The client library (`luanet/client`) against real gates: a name service, the service Game
 * (tests/fixtures/gate/game.ts) and two gate processes. What a misbehaving gate does to the
 * client is tests/client-unit.test.ts, with a scripted gate.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, ClientError, type Connection } from "../stdlib/client.ts";
import { startNameService, type NameService } from "./helpers/cluster.ts";
import { root, startLuanet, type Running } from "./helpers/proc.ts";

const fixtures = join(root, "tests/fixtures/gate");

interface Room {
  Echo(a: { n: number }): { n: number };
  WhoAmI(): { id: string; uid: string; gate: string; data: Record<string, unknown> };
}

/** Resolves with the first `event` of `c` (its arguments), within `ms`. */
function once(c: Connection, event: "message" | "close" | "reconnect", ms = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    const on = (...args: unknown[]) => {
      clearTimeout(timer);
      c.off(event, on as never);
      resolve(args);
    };
    c.on(event, on as never);
  });
}

describe("luanet/client against real gates", () => {
  let ns: NameService;
  const gates = new Map<string, { proc: Running; ws: number; tcp: number }>();
  const open: Connection[] = [];

  async function startGate(name: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const proc = startLuanet([join(fixtures, "gate.ts"), name], { env: { LUANET_NS: ns.addr, ...env } });
    const m = await proc.waitFor(new RegExp(`GATE ${name} (\\d+) (\\d+)`), 20_000);
    await proc.waitFor(/registered with the name service/, 10_000, "stderr");
    gates.set(name, { proc, ws: Number(m[1]), tcp: Number(m[2]) });
  }

  const login = async (url: string, token: string, options = {}) => {
    const c = await connect(url, { auth: { token }, ...options });
    open.push(c);
    return c;
  };

  before(async () => {
    ns = await startNameService();
    const game = startLuanet([join(fixtures, "game.ts")], { env: { LUANET_NS: ns.addr } });
    await game.waitFor(/registered with the name service/, 20_000, "stderr");
    await Promise.all([startGate("Gate1"), startGate("Gate2")]);
  });
  after(() => {
    for (const c of open) c.close();
  });

  test("connect logs in; requests, typed calls and errors are values", async () => {
    const c = await login(`ws://127.0.0.1:${gates.get("Gate1")!.ws}`, "ann");
    assert.match(c.session!, /@Gate1$/);
    assert.equal(c.user?.uid, "ann");
    const [who, err] = await c.request("Game.WhoAmI", null);
    assert.equal(err, null);
    assert.deepEqual(who, { id: c.session, uid: "ann", gate: "Gate1", data: { level: 1 } });
    const game = c.client<Room>("Game");
    assert.deepEqual(await game.Echo({ n: 5 }), [{ n: 5 }, null]);
    const [none, denied] = await c.request("Game.Internal", null);
    assert.equal(none, null);
    assert.ok(denied instanceof ClientError);
    assert.equal(denied.code, "no_such_function");
    const [, late] = await c.request("Game.Slow", { ms: 2000 }, { timeout: 100 });
    assert.equal(late?.code, "timeout");
  });

  test("a bad token is refused at connect", async () => {
    await assert.rejects(connect(`ws://127.0.0.1:${gates.get("Gate1")!.ws}`, { auth: { token: "bad" } }), (e: ClientError) => e.code === "auth_failed");
  });

  test("over tcp://, a push and a channel broadcast from another gate's client arrive as messages", async () => {
    const a = await login(`ws://127.0.0.1:${gates.get("Gate1")!.ws}`, "alice");
    const b = await login(`tcp://127.0.0.1:${gates.get("Gate2")!.tcp}`, "bob");
    const pushed = once(b, "message");
    assert.deepEqual(await a.request("Game.PushTo", { to: b.session, msg: { hi: 1 } }), ["pushed", null]);
    assert.deepEqual(await pushed, ["note", { hi: 1 }]);
    for (const c of [a, b]) assert.deepEqual(await c.request("Game.Join", { channel: "lobby" }), [true, null]);
    const heard = [once(a, "message"), once(b, "message")];
    assert.deepEqual(await a.request("Game.Flood", { channel: "lobby", from: 0, n: 1, size: 3 }), [2, null]);
    for (const h of heard) assert.deepEqual(await h, ["lobby", { i: 0, pad: "xxx" }]);
  });

  test("a kick closes the connection with its reason", async () => {
    const c = await login(`ws://127.0.0.1:${gates.get("Gate1")!.ws}`, "kicked");
    const closed = once(c, "close");
    void c.request("Game.KickMe", null);
    assert.deepEqual(await closed, ["kicked", "you asked for it"]);
  });

  test("with reconnect, a restarted gate gives a new session, logged in again", async () => {
    const c = await login(`ws://127.0.0.1:${gates.get("Gate2")!.ws}`, "phoenix", { reconnect: { delayMs: 100, maxDelayMs: 500 } });
    const first = c.session;
    const port = gates.get("Gate2")!.ws;
    const again = once(c, "reconnect", 30_000);
    gates.get("Gate2")!.proc.child.kill("SIGKILL");
    await gates.get("Gate2")!.proc.exited(10_000).catch(() => null);
    await startGate("Gate2", { GATE_OPTIONS: JSON.stringify({ ws: `127.0.0.1:${port}` }) });
    const [session] = await again;
    assert.notEqual(session, first, "a new session");
    assert.equal(((await c.request("Game.WhoAmI", null))[0] as { uid: string }).uid, "phoenix");
  });
});
