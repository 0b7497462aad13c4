// Players calling the group "Room" (three rooms: lobby.ts, or three room.ts processes), after
// `luanet nameservice &` and the rooms:   luanet samples/groups/client.ts
// It names only the group: which room answers is the group's choice, made per call.
import type {} from "luanet/globals";
import type { RPCResult } from "luanet";
import * as net from "luanet/net";
import type { Room } from "./contract.js";

// The name service; `--ns ADDR` or LUANET_NS, where the script is started, override it.
const nameservice = net.netaddr_ipv4("127.0.0.1", 8010);

// A service of its own (port 0), so this process keeps a watch on the group: every call picks
// from the live members without asking the registry again.
luanet.StartLocalService("Players", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(nameservice);

/** A failed call ends the sample with exit 1, saying which. */
function check<T>(result: RPCResult<T>, what: string): T {
  const [ret, err] = result;
  if (err !== null) {
    console.log(`${what} failed: ${err.code}: ${err.message}`);
    luanet.Exit(1);
    throw new Error(what);
  }
  return ret as T;
}

const tally = (rooms: string[]) => [...new Set(rooms)].sort().map((r) => `${r} ${rooms.filter((x) => x === r).length}`).join(", ");

export default function* () {
  const members = check(yield* luanet.GetGroupMembers("Room"), "GetGroupMembers");
  console.log(`members of Room: ${members.join(", ") || "none"}`);
  if (members.length === 0) return luanet.Exit(1);

  const rooms = luanet.Client<Room>("Room"); // a group is called like a service

  // Round-robin: each member in turn.
  const guests: string[] = [];
  for (let i = 1; i <= 6; i++) guests.push(check(yield* rooms.Join({ player: `guest${i}` }, { balance: "round-robin" }), "Join").room);
  console.log(`round-robin, 6 guests: ${tally(guests)}`);

  // Key: the same player always reaches the same room while it lives. Join is idempotent (a
  // second Join gives the same seat), so it may be retried on another room if one dies mid-call.
  for (const player of ["ann", "bob", "cid", "dee"]) {
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) seen.push(check(yield* rooms.Join({ player }, { key: player, idempotent: true }), "Join").room);
    const said = check(yield* rooms.Say({ player, text: "hi" }, { key: player }), "Say");
    const same = seen.every((r) => r === said.room);
    console.log(`key ${player}: ${seen.length} joins and a Say, all in ${same ? said.room : `different rooms: ${seen.join(", ")}, ${said.room}`}`);
    if (!same) return luanet.Exit(1);
  }

  // Broadcast: one message to every live member; it says which it could not reach.
  const { sent, failed, err } = yield* luanet.Broadcast("Room", { notice: "the lobby closes at midnight" });
  if (err !== null) return console.log(`Broadcast failed: ${err.code}: ${err.message}`), luanet.Exit(1);
  console.log(`broadcast: sent to ${sent.join(", ")}; failed: ${failed.map((f) => `${f.name} (${f.err.code})`).join(", ") || "none"}`);

  // Each room by its own name. A message is handed over when Broadcast returns, not yet read:
  // ask until the room has read it (bounded).
  for (const name of members) {
    let stats = check(yield* luanet.Client<Room>(name).Stats(), "Stats");
    for (let i = 0; i < 20 && stats.notices === 0; i++) {
      yield* Sche.Sleep(50);
      stats = check(yield* luanet.Client<Room>(name).Stats(), "Stats");
    }
    console.log(`${name}: ${stats.players.length} players (${stats.players.join(", ")}), ${stats.said} said, ${stats.notices} notice`);
  }
  luanet.Exit(0);
}
