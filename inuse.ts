import * as net from "luanet/net";
luanet.StartLocalService("X", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 18999));
luanet.Register2Name(net.netaddr_ipv4("127.0.0.1", 18998));
