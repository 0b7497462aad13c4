// Services listen on 127.0.0.1 unless LISTEN_IP says (an "env" of the cluster file, for several hosts).
// The login service: one instance (no "instances" in luanet.cluster.json), named "Login".
// Here it shares the process "front" with the lobby: luanet up starts both in one process.
import type {} from "luanet/globals";
import { createHmac, randomBytes } from "node:crypto";
import * as net from "luanet/net";
import type { Login } from "./contract.js";

const name = luanet.instance?.name ?? "Login";
const key = randomBytes(16);
const sign = (player: string) => createHmac("sha256", key).update(player).digest("base64url");

luanet.StartLocalService(name, SOCK_STREAM, net.netaddr_ipv4(process.env.LISTEN_IP ?? "127.0.0.1", 0));
luanet.RegRPCFunctions<Login>({
  Login: ({ player }) => ({ token: sign(player) }),
  Check: ({ player, token }) => token === sign(player),
});
// The address is the script's default; luanet up hands every service the cluster's registry.
luanet.Register2Name("127.0.0.1:8010");
