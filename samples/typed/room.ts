// A room, implementing the Room contract: a missing function, an extra one or a wrong type is a
// compile error here. Started by main.ts with luanet.NewService("room.ts", "1").
import type {} from "luanet/globals";
import * as net from "luanet/net";
import type { Room } from "./contract.js";

const players: string[] = [];
luanet.StartLocalService(`room${luanet.args[0] ?? "1"}`, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.RegRPCFunctions<Room>({
  Join: ({ player }) => ({ seat: players.push(player) }),
  Say: ({ text }, ctx) => luanet.log.info(`${ctx.from ?? "someone"} says ${text}`),
  Players: () => players,
});
