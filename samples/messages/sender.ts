// Sends numbered one-way messages to the Inbox service.
//   luanet samples/messages/sender.ts [count]
import type {} from "luanet/globals";
import * as net from "luanet/net";

luanet.StartLocalService("Sender", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(net.netaddr_ipv4("127.0.0.1", 8010)); // --ns or LUANET_NS override it

export default function* (count = "20") {
  for (let n = 1; n <= Number(count); n++) {
    const err = yield* luanet.SendMsg("Inbox", { n, text: `hello number ${n}` });
    if (err !== null) throw err;
  }
  console.log(`sent ${count} messages`);
  luanet.Exit(0); // flushes and closes the connections, then exits
}
