// The seed's PlusServer: offers the RPC function Plus. Run it after `luanet nameservice`:
//   luanet samples/plus/server.ts
// PLUS_ADDR (default 127.0.0.1:8012; also "[::1]:8012" or "unix:/tmp/plus.sock") and
// PLUS_TYPE (stream or dgram) choose where and how it listens.
import type {} from "luanet/globals";
import * as net from "luanet/net";

// The name service; `--ns ADDR` or LUANET_NS, where the script is started, override it.
const nameservice = net.netaddr_ipv4("127.0.0.1", 8010);

function Plus(arg: { a: number; b: number }) {
  return arg.a + arg.b;
}

luanet.RegRPCFunction("Plus", Plus);
const type = process.env.PLUS_TYPE === "dgram" ? SOCK_DGRAM : SOCK_STREAM;
luanet.StartLocalService("PlusServer", type, net.parseAddr(process.env.PLUS_ADDR ?? "127.0.0.1:8012"));
luanet.Register2Name(nameservice);
