/**
 * A Plus server named by its first argument that joins the group named by its second, for the
 * groups benchmark (bench/run.ts). It registers at LUANET_NS.
 */
import type {} from "luanet/globals";
import * as net from "luanet/net";

luanet.RegRPCFunction("Plus", ({ a, b }: { a: number; b: number }) => a + b);
luanet.StartLocalService(luanet.args[0]!, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(net.parseAddr(process.env.LUANET_NS ?? "127.0.0.1:8010"));
if (luanet.args[1] !== undefined) luanet.JoinGroup(luanet.args[1]);
