// The seed's PlusClient: 100 tasks call PlusServer.Plus in a loop; prints calls per second.
//   luanet samples/plus/client.ts [seconds]      (runs until stopped without seconds)
import type {} from "luanet/globals";
import * as net from "luanet/net";

// The name service; `--ns ADDR` or LUANET_NS, where the script is started, override it.
const nameservice = net.netaddr_ipv4("127.0.0.1", 8010);

// Start a local service (port 0: any free port) and register with the name service.
luanet.StartLocalService("PlusClient", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.Register2Name(nameservice);

export default function* (seconds?: string) {
  const until = seconds === undefined ? Infinity : Date.now() + Number(seconds) * 1000;
  let calls = 0;
  let failed = 0;
  const workers = [];
  // 100 light processes calling the remote method.
  for (let i = 0; i < 100; i++) {
    workers.push(Sche.Spawn(function* () {
      while (Date.now() < until) {
        const [ret, err] = yield* luanet.RPCCall<number>("PlusServer", "Plus", { a: 1, b: 2 });
        if (err !== null) {
          failed++;
          console.log(`call failed: ${err.code}: ${err.message}`);
          yield* Sche.Sleep(1000);
        } else if (ret !== 3) {
          throw new Error(`Plus(1, 2) returned ${ret}`);
        } else {
          calls++;
        }
      }
    }));
  }
  let last = calls;
  const timer = setInterval(() => {
    console.log(`${calls - last} calls/s`);
    last = calls;
  }, 1000);
  for (const w of workers) yield* w;
  clearInterval(timer);
  console.log(`${calls} calls, ${failed} failed`);
  luanet.Exit(failed === 0 ? 0 : 1);
}
