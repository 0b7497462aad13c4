/**
 * The luanet side of the gate benchmark (bench/gate.ts): the service "Bench" with a gate for
 * WebSocket clients on 127.0.0.1 (it prints "gate port N"), registered at LUANET_NS (channels
 * broadcast through the group luanet.gates). The client functions are those
 * bench/gate-reference.ts answers by hand:
 *
 *   Echo   its args back
 *   Join   the caller's session joins the channel "bench"
 *   Start  { seconds, window, pad }: broadcast { seq, pad } to the channel, seq 1, 2, ..., with at
 *          most `window` broadcasts not yet acked, for `seconds`
 *   Ack    n: every member holds broadcast n
 *
 * The gate's limits are raised for a benchmark from one address: all 10,000 clients come from
 * 127.0.0.1 (maxClients, maxClientsPerAddress), and the client that acks sends a MESSAGE per
 * turn of its event loop, more than the default 100 a second (rateLimit).
 */
import type {} from "luanet/globals";
import * as net from "luanet/net";

type Task = NonNullable<ReturnType<typeof Sche.Running>>;

/** How far the clients of the current run are: its broadcaster waits on it when its window is
 * full. Each Start makes a new one, so a broadcaster left from an earlier run stops. */
type Progress = { acked: number; waiting: Task | null };
let progress: Progress = { acked: 0, waiting: null };
/** Acks stop this long: the clients are gone, the broadcaster ends. */
const IDLE_MS = 5000;

luanet.StartLocalService("Bench", SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
luanet.RegClientFunction("Echo", (args: unknown) => args);
luanet.RegClientFunction("Join", function* (_args: unknown, ctx) {
  const err = yield* luanet.Channel("bench").add(ctx.session!.id);
  if (err !== null) throw err;
  return true;
});
luanet.RegClientFunction("Ack", (n: number) => {
  progress.acked = Math.max(progress.acked, n);
  if (progress.waiting !== null) Sche.WakeUp(progress.waiting);
  return null;
});
luanet.RegClientFunction("Start", ({ seconds, window, pad }: { seconds: number; window: number; pad: string }) => {
  Sche.Spawn(function* () {
    const channel = luanet.Channel("bench");
    const until = performance.now() + seconds * 1000;
    const mine: Progress = (progress = { acked: 0, waiting: null });
    let seq = 0;
    while (performance.now() < until && progress === mine) {
      while (seq - mine.acked >= window) {
        mine.waiting = Sche.Running();
        const woken = yield* Sche.Block(IDLE_MS);
        mine.waiting = null;
        if (!woken || progress !== mine) return;
      }
      const r = yield* channel.broadcast({ seq: ++seq, pad });
      if (r.err !== null || r.failed.length > 0) throw new Error(`broadcast ${seq} failed: ${(r.err ?? r.failed[0]!.err).message}`);
    }
  });
  return null;
});
luanet.Register2Name(net.parseAddr(process.env.LUANET_NS!));
Sche.Spawn(function* () {
  const [addrs, err] = yield* luanet.StartGate({ ws: "127.0.0.1:0", maxClients: 20_000, maxClientsPerAddress: 20_000, rateLimit: 100_000 });
  if (err !== null) throw err;
  console.log(`gate port ${addrs.ws!.port}`);
});
