// The lobby: checks a player's token with Login and seats them in a room of the group "Room".
// Started with `--max N` (luanet.cluster.json's "args"): at most N players at once.
import type {} from "luanet/globals";
import { LuanetError } from "luanet";
import * as net from "luanet/net";
import type { Lobby, Login, Room } from "./contract.js";

const at = luanet.args.indexOf("--max");
const max = at >= 0 ? Number(luanet.args[at + 1]) : 1000;
const players = new Set<string>();
const login = luanet.Client<Login>("Login");

luanet.StartLocalService(luanet.instance?.name ?? "Lobby", SOCK_STREAM, net.netaddr_ipv4(process.env.LISTEN_IP ?? "127.0.0.1", 0));
luanet.RegRPCFunctions<Lobby>({
  *Enter({ player, token }) {
    const [ok, err] = yield* login.Check({ player, token });
    if (err !== null) throw err;
    if (!ok) throw new LuanetError("bad_credentials", `${player}'s token is not Login's`);
    if (!players.has(player) && players.size >= max) throw new LuanetError("lobby_full", `the lobby holds ${max} players`);
    players.add(player);
    // Keyed by player: the same room each time, while the rooms stay the same. Join is
    // idempotent (a second Join gives the same seat), so it may be retried on another room.
    const [seat, joinErr] = yield* luanet.Client<Room>("Room").Join({ player }, { key: player, idempotent: true });
    if (joinErr !== null) throw joinErr;
    return seat;
  },
});
luanet.Register2Name("127.0.0.1:8010");
