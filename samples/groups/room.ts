// A room server: one member of the group "Room". Its name comes from its argument:
//   luanet samples/groups/room.ts Room1          (a process of its own)
//   yield* luanet.NewService("room.ts", "Room1") (a service in another script's process: lobby.ts)
// Every room offers the same functions (contract.ts); callers name the group, not the room.
import type {} from "luanet/globals";
import * as net from "luanet/net";
import type { Room } from "./contract.js";

// The name service; `--ns ADDR` or LUANET_NS, where the script is started, override it.
const nameservice = net.netaddr_ipv4("127.0.0.1", 8010);
const room = luanet.args[0] ?? "Room1";

const seats = new Map<string, number>();
let said = 0;
let notices = 0;

luanet.StartLocalService(room, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0)); // port 0: any free port
luanet.RegRPCFunctions<Room>({
  Join: ({ player }) => {
    if (!seats.has(player)) seats.set(player, seats.size + 1);
    return { room, seat: seats.get(player)! };
  },
  Say: ({ player, text }) => {
    said++;
    luanet.log.info(`${player}: ${text}`);
    return { room, heard: seats.size };
  },
  Stats: () => ({ room, players: [...seats.keys()], said, notices }),
});
luanet.Register2Name(nameservice);
// Membership is part of the registration: it ends when the room stops or dies. Started here, at
// the top level (lobby.ts's NewService waits for it); the default export below waits for it too.
const joined = luanet.JoinGroup("Room");

// One-way messages: Broadcast("Room", ...) gives each room one.
Sche.Spawn(function* () {
  for (;;) {
    const { msg } = yield* luanet.GetMsg<{ notice: string }>();
    notices++;
    luanet.log.info(`notice: ${msg.notice}`);
  }
});

export default function* () {
  const err = yield* joined;
  if (err !== null) {
    luanet.log.error(`cannot join the group Room: ${err.code}: ${err.message}`);
    return luanet.StopService();
  }
  console.log(`${room} joined the group Room`);
}
