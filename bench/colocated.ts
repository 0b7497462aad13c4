/**
 * The Plus scenario between two services of one process: this bootstrap starts a Plus server
 * (bench/named-server.ts, named by PLUS_SERVICE) and the Plus client (bench/plus-client.ts) with
 * luanet.NewService; the client prints { rate, p50, p99 } and exits. Run by bench/run.ts, beside
 * the same pair in two processes.
 */
import type {} from "luanet/globals";

export default function* (callers: string, seconds: string) {
  yield* luanet.NewService("named-server.ts", process.env.PLUS_SERVICE ?? "PlusServer");
  yield* luanet.NewService("plus-client.ts", callers, seconds);
}
