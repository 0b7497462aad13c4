// The seed's PlusServer: offers the RPC function Plus. Run it after `luanet nameservice`:
//   luanet samples/plus/server.ts
import type {} from "luanet/globals";
import * as net from "luanet/net";

const nameservice = net.parseAddr(process.env.LUANET_NS ?? "127.0.0.1:8010");

function Plus(arg: { a: number; b: number }) {
  return arg.a + arg.b;
}

luanet.RegRPCFunction("Plus", Plus);
luanet.StartLocalService("PlusServer", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", Number(process.env.PLUS_PORT ?? 8012)));
luanet.Register2Name(nameservice);
