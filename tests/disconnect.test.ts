/**
 * onDisconnected(peer, reason), with real processes: a lobby that calls three rooms and is called
 * by them (two links per room) hears once per room that goes away, with the reason; never for
 * its own shutdown, during which `luanet.stopping` is true.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { launch, runClient, startNameService, startService, type NameService, type Service } from "./helpers/cluster.ts";

/** Each onDisconnected call the lobby prints: `{"gone":"Room1","reason":"closed"}`. */
function departures(stdout: string): { gone: string; reason: string }[] {
  return stdout.split("\n").filter((l) => l.startsWith('{"gone"')).map((l) => JSON.parse(l));
}

const room = (name: string) => `
  luanet.RegRPCFunction("Seat", () => ${JSON.stringify(name)});
  luanet.StartLocalService(${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
  luanet.Register2Name(NS);
  export default function* () {
    // The room's link to the lobby: it reports in until the test kills it.
    for (;;) {
      yield* luanet.RPCCall("Lobby", "Hello", ${JSON.stringify(name)}, { timeout: 2000 });
      yield* Sche.Sleep(200);
    }
  }
`;

describe("onDisconnected", { concurrency: false }, () => {
  // A name service of its own for each test, so a test never meets the registrations of the
  // processes the one before it killed; those are killed, and waited for, when it ends.
  let ns: NameService;
  let running: Service[] = [];
  beforeEach(async () => {
    ns = await startNameService();
  });
  afterEach(async () => {
    for (const p of running) p.child.kill("SIGKILL");
    await Promise.all(running.splice(0).map((p) => p.exited(5000)));
    ns.proc.child.kill("SIGKILL");
  });

  async function lobbyWithRooms(rooms: string[], configure = ""): Promise<{ lobby: Service; rooms: Service[] }> {
    const lobby = await startService(ns, `
      ${configure}
      const seen = new Set<string>();
      luanet.RegRPCFunction("Hello", (name: string) => {
        if (!seen.has(name)) { seen.add(name); console.log("hello " + name); }
        return null;
      });
      luanet.StartLocalService("Lobby", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0), (peer, reason) => {
        console.log(JSON.stringify({ gone: peer, reason, stopping: luanet.stopping }));
      });
      luanet.Register2Name(NS);
      Sche.Spawn(function* () {
        try {
          // The lobby's links to each room: it calls them all, over and over.
          for (;;) {
            for (const r of ${JSON.stringify(rooms)}) yield* luanet.RPCCall(r, "Seat", null, { timeout: 1000 });
            yield* Sche.Sleep(100);
          }
        } finally {
          console.log("lobby stopping=" + luanet.stopping);
        }
      });
    `, { name: "lobby.ts" });
    running.push(lobby);
    const started = await Promise.all(rooms.map((r) => startService(ns, room(r), { name: "room.ts" })));
    running.push(...started);
    for (const r of rooms) await lobby.waitFor(new RegExp(`^hello ${r}$`, "m"), 10_000);
    return { lobby, rooms: started };
  }

  test("killing one of three rooms fires once for it, reason closed; a second kill shows the first did not fire again", async () => {
    const { lobby, rooms } = await lobbyWithRooms(["Room1", "Room2", "Room3"]);
    rooms[0]!.child.kill("SIGKILL");
    await lobby.waitFor(/"gone":"Room1"/, 10_000);
    // Both of Room1's links closed at its death; by the time Room2's departure is heard, a second
    // callback for Room1 would have come too.
    rooms[1]!.child.kill("SIGKILL");
    await lobby.waitFor(/"gone":"Room2"/, 10_000);
    assert.deepEqual(departures(lobby.stdout), [
      { gone: "Room1", reason: "closed", stopping: false },
      { gone: "Room2", reason: "closed", stopping: false },
    ]);
  });

  test("a graceful SIGTERM of the lobby fires none for the rooms it was connected to; its finally blocks see luanet.stopping", async () => {
    const { lobby } = await lobbyWithRooms(["RoomA", "RoomB"]);
    lobby.child.kill("SIGTERM");
    const r = await lobby.exited(10_000);
    assert.equal(r.code, 143, r.stderr);
    assert.deepEqual(departures(r.stdout), []);
    assert.match(r.stdout, /^lobby stopping=true$/m);
  });

  test("a room that freezes (SIGSTOP) is reported once, reason timeout, after peerTimeout", async () => {
    const { lobby, rooms } = await lobbyWithRooms(["RoomX", "RoomY"], "luanet.Configure({ peerTimeout: 1000 });");
    const frozen = rooms[0]!;
    frozen.child.kill("SIGSTOP");
    try {
      await lobby.waitFor(/"gone":"RoomX"/, 10_000);
      // RoomY keeps the lobby busy; give a duplicate time to show (bounded, on the next departure).
      rooms[1]!.child.kill("SIGKILL");
      await lobby.waitFor(/"gone":"RoomY"/, 10_000);
    } finally {
      frozen.child.kill("SIGKILL");
    }
    assert.deepEqual(departures(lobby.stdout), [
      { gone: "RoomX", reason: "timeout", stopping: false },
      { gone: "RoomY", reason: "closed", stopping: false },
    ]);
  });

  test("a callback that throws is logged and the service goes on", async () => {
    const lobby = await startService(ns, `
      luanet.RegRPCFunction("Ping", () => "pong");
      luanet.StartLocalService("Thrower", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0), () => { throw new Error("boom in callback"); });
      luanet.Register2Name(NS);
    `);
    const caller = launch(ns, `
      luanet.StartLocalService("Caller", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
      luanet.Register2Name(NS);
      export default function* () {
        yield* luanet.RPCCall("Thrower", "Ping");
        console.log("called");
        yield* Sche.Block();
      }
    `);
    running.push(lobby, caller);
    await caller.waitFor(/^called$/m, 10_000);
    caller.child.kill("SIGKILL");
    await lobby.waitFor(/onDisconnected callback threw for Caller \(closed\)[\s\S]*boom in callback/, 10_000, "stderr");
    const r = await runClient(ns, `export default function* () { console.log(JSON.stringify(yield* luanet.RPCCall("Thrower", "Ping"))); }`);
    assert.match(r.stdout, /\["pong",null\]/);
  });
});
