/**
 * The groups sample (samples/groups/, issue 14 item 6) as a new user runs it: demo.ts on a
 * machine with nothing else running, with the rooms in one process and in three; and `luanet ls`,
 * `luanet call` and `luanet send` against the lobby's group.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { startNameService, tool } from "./helpers/cluster.ts";
import { root, runLuanet, startLuanet } from "./helpers/proc.ts";

const sample = (file: string) => join(root, "samples", "groups", file);
const ROOMS = ["Room1", "Room2", "Room3"];

/** What client.ts prints, checked line by line: which room a key lands in is the hash's choice. */
function checkClientOutput(stdout: string): void {
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines.length, 11, stdout);
  assert.match(lines[0]!, /^name service on 127\.0\.0\.1:\d+; Room1, Room2 and Room3 run in (one process \(lobby\.ts\)|a process each \(room\.ts\))$/);
  assert.equal(lines[1], "members of Room: Room1, Room2, Room3");
  assert.equal(lines[2], "round-robin, 6 guests: Room1 2, Room2 2, Room3 2");
  const keyed = new Map<string, string>();
  for (const [i, player] of ["ann", "bob", "cid", "dee"].entries()) {
    const m = new RegExp(`^key ${player}: 3 joins and a Say, all in (Room[123])$`).exec(lines[3 + i]!);
    assert.ok(m, stdout);
    keyed.set(player, m[1]!);
  }
  assert.equal(lines[7], "broadcast: sent to Room1, Room2, Room3; failed: none");
  let players = 0;
  for (const [i, room] of ROOMS.entries()) {
    const m = new RegExp(`^${room}: (\\d+) players \\(([^)]*)\\), (\\d+) said, 1 notice$`).exec(lines[8 + i]!);
    assert.ok(m, stdout);
    const seated = m[2]!.split(", ");
    assert.equal(seated.length, Number(m[1]));
    players += seated.length;
    // Each keyed player joined and spoke in its room and nowhere else; round-robin gave two guests each.
    const mine = [...keyed].filter(([, r]) => r === room).map(([p]) => p);
    assert.deepEqual(seated.filter((p) => !p.startsWith("guest")), mine, stdout);
    assert.equal(seated.filter((p) => p.startsWith("guest")).length, 2, stdout);
    assert.equal(Number(m[3]), mine.length, stdout);
  }
  assert.equal(players, 10);
}

for (const mode of ["lobby", "processes"]) {
  test(`demo.ts ${mode}: round-robin, key, Broadcast and GetGroupMembers over three rooms, from a bare machine`, async () => {
    const r = await runLuanet([sample("demo.ts"), mode], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    checkClientOutput(r.stdout);
  });
}

test("luanet ls shows the group and its members; luanet call and send reach a group like a service", async () => {
  const ns = await startNameService();
  const before = await tool(ns, ["ls"]);
  assert.equal(before.code, 0, before.stderr);
  assert.doesNotMatch(before.stdout, /GROUP/, "no groups, no groups table");

  const lobby = startLuanet([sample("lobby.ts")], { env: { LUANET_NS: ns.addr } });
  await lobby.waitFor(/^lobby: Room1, Room2, Room3 are up$/m, 30_000);

  const ls = await tool(ns, ["ls"]);
  assert.equal(ls.code, 0, ls.stderr);
  const [services, groups, ...rest] = ls.stdout.split("\n\n");
  assert.equal(rest.length, 0, ls.stdout);
  const serviceLines = services!.trimEnd().split("\n");
  assert.deepEqual(serviceLines[0]!.split(/\s+/), ["NAME", "ADDRESS", "TRANSPORT", "FUNCTIONS", "PID", "UPTIME"]);
  assert.deepEqual(serviceLines.slice(1).map((l) => l.split(/\s+/)[0]), ROOMS);
  for (const line of serviceLines.slice(1)) assert.equal(line.split(/\s+/)[4], String(lobby.child.pid), "one process: one PID");
  assert.deepEqual(groups!.trimEnd().split("\n").map((l) => l.split(/\s+/)), [["GROUP", "SIZE", "MEMBERS"], ["Room", "3", "Room1,Room2,Room3"]]);

  const call = await tool(ns, ["call", "Room", "Join", '{"player":"zed"}']);
  assert.equal(call.code, 0, call.stderr);
  const joined = JSON.parse(call.stdout) as { room: string; seat: number };
  assert.ok(ROOMS.includes(joined.room), call.stdout);
  assert.equal(joined.seat, 1);

  const send = await tool(ns, ["send", "Room", '{"notice":"from the command line"}']);
  assert.equal(send.code, 0, send.stderr);

  const nobody = await tool(ns, ["call", "Rooms", "Join", "{}"]);
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /^luanet: unavailable: no service named "Rooms" is registered, and no group of that name has members/m);
});
