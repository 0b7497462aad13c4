// A service that serves its mailbox with a group of tasks, as the seed recommends: while one
// worker is busy (here: asking another service something), the others keep taking messages.
//   luanet samples/messages/inbox.ts            (with a name service running)
import type {} from "luanet/globals";
import * as net from "luanet/net";

// The name service; `--ns ADDR` or LUANET_NS, where the script is started, override it.
const nameservice = net.netaddr_ipv4("127.0.0.1", 8010);
luanet.StartLocalService("Inbox", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(nameservice);

const expected = Number(process.env.INBOX_EXPECT ?? 20);
let received = 0;

function* worker(id: number) {
  for (;;) {
    const { from, msg } = yield* luanet.GetMsg<{ n: number; text: string }>();
    received++;
    console.log(`worker ${id} got #${msg.n} from ${from}: ${msg.text}`);
    yield* Sche.Sleep(5); // pretend each message takes a little work
    if (received === expected) {
      console.log(`all ${expected} messages handled`);
      luanet.Exit(0);
    }
  }
}

for (let i = 1; i <= 4; i++) Sche.Spawn(worker, i);
