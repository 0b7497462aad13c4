// A room: luanet.cluster.json starts three, Room-1..Room-3, each a member of the group "Room"
// (its "group"), so callers name the group and one room answers. Started by hand it is Room-1,
// in no group: `luanet samples/cluster/room.ts`. Edit Say and `luanet reload Room`: every room
// takes the new code without dropping a call, and `said` counts on.
import type {} from "luanet/globals";
import * as net from "luanet/net";
import type { Room } from "./contract.js";

const room = luanet.instance?.name ?? "Room-1";
// Kept across hot reloads (luanet reload Room, luanet up --watch): the new code gets the same objects.
const seats = luanet.State("seats", () => new Map<string, number>());
const stats = luanet.State("stats", () => ({ said: 0 }));

luanet.StartLocalService(room, SOCK_STREAM, net.netaddr_ipv4(process.env.LISTEN_IP ?? "127.0.0.1", 0));
luanet.RegRPCFunctions<Room>({
  Join: ({ player }) => {
    if (!seats.has(player)) seats.set(player, seats.size + 1);
    return { room, seat: seats.get(player)! };
  },
  Say: () => ({ room, said: ++stats.said }),
});
luanet.Register2Name("127.0.0.1:8010");
