/**
 * A soak server: one named service with two RPC functions whose results a client can check, and a
 * mailbox that checks the messages it gets. soak/run.ts starts several, kills them with SIGKILL
 * and starts them again. By hand, with a name service running:
 *
 *   LUANET_NS=127.0.0.1:8010 luanet soak/server.ts EchoServer stream 127.0.0.1:0
 *
 *   Echo({ client, seq })   -> { client, seq, server }   answered at once
 *   SlowPlus({ a, b, ms })  -> a + b                     after sleeping `ms`, so that calls are
 *                                                        in flight when the process is killed
 *
 * Messages are { client, n, check } with check === n * 7 + 1; a client numbers its messages to
 * this server 1, 2, 3... Over a stream (TCP, UNIX socket) luanet delivers one sender's messages
 * in order, so n must grow from one message to the next of the same client ("misordered"
 * otherwise; gaps are fine: messages sent to an earlier, killed, incarnation are lost). Over UDP
 * messages are best-effort, so order is not checked there.
 *
 * Prints { type: "ready" } once registered, then a stats line every second (see report.ts).
 */
import type {} from "luanet/globals";
import * as net from "luanet/net";
import { memory, report } from "./report.ts";

export default function* (name: string, type: string, addr: string) {
  if (!name || (type !== "stream" && type !== "dgram") || !addr) {
    throw new TypeError("usage: luanet soak/server.ts <name> <stream|dgram> <addr>");
  }
  let calls = 0;

  // The functions are registered before the service starts, so they are in its registration.
  luanet.RegRPCFunction("Echo", (args: { client: string; seq: number }) => {
    calls++;
    return { client: args.client, seq: args.seq, server: name };
  });
  luanet.RegRPCFunction("SlowPlus", function* (args: { a: number; b: number; ms: number }) {
    calls++;
    yield* Sche.Sleep(args.ms);
    return args.a + args.b;
  });

  const [, listenError] = yield* luanet.StartLocalService(name, type === "dgram" ? SOCK_DGRAM : SOCK_STREAM, net.parseAddr(addr));
  if (listenError !== null) throw listenError;
  const registerError = yield* luanet.Register2Name(net.parseAddr(process.env.LUANET_NS!));
  if (registerError !== null) throw registerError;
  report("ready");

  // The mailbox: four tasks take messages, so no one of them is a bottleneck.
  const lastN = new Map<string, number>(); // client -> the last n seen from it
  let msgs = 0;
  let badMsgs = 0;
  let misordered = 0;
  for (let i = 0; i < 4; i++) {
    Sche.Spawn(function* () {
      for (;;) {
        const { msg } = yield* luanet.GetMsg<{ client: string; n: number; check: number }>();
        msgs++;
        if (typeof msg?.client !== "string" || typeof msg.n !== "number" || msg.check !== msg.n * 7 + 1) {
          badMsgs++;
          luanet.log.error("a message arrived damaged", { msg: JSON.stringify(msg) });
          continue;
        }
        const last = lastN.get(msg.client) ?? 0;
        if (type === "stream" && msg.n <= last) {
          misordered++;
          luanet.log.error("a message arrived out of order", { client: msg.client, n: msg.n, after: last });
        }
        lastN.set(msg.client, Math.max(last, msg.n));
      }
    });
  }

  // Runs until the runner kills it (SIGKILL) or stops it (SIGTERM) at the end.
  for (;;) {
    yield* Sche.Sleep(1000);
    report("stats", { ...memory(), calls, msgs, badMsgs, misordered });
  }
}
