/**
 * The seed's Plus scenario for the benchmark: CALLERS tasks call PlusServer.Plus for SECONDS and
 * the script prints { rate, p50, p99, cpu, calls } as JSON (cpu: its CPU time over the calls, in
 * µs), after 1 s of calls not counted, to warm up (as bench/rpc-reference.ts does). Run by
 * bench/rpc.ts with LUANET_NS set. With a third argument "log", every call also logs a line. PLUS_SERVICE names another server (or a
 * group), or several, comma-separated, called in turn.
 */
import type {} from "luanet/globals";

export default function* (callers: string, seconds: string, logEach?: string) {
  const logging = logEach === "log";
  const start = performance.now() + 1000;
  const until = start + Number(seconds) * 1000;
  let cpu0: NodeJS.CpuUsage | null = null; // when the first counted call began
  const latencies: number[] = [];
  // Several names ("A,B,C"): each call goes to the next one in turn, balancing by hand.
  const servers = (process.env.PLUS_SERVICE ?? "PlusServer").split(",");
  let turn = 0;
  const tasks = [];
  for (let i = 0; i < Number(callers); i++) {
    tasks.push(Sche.Spawn(function* () {
      while (performance.now() < until) {
        const t0 = performance.now();
        const server = servers.length === 1 ? servers[0]! : servers[turn++ % servers.length]!;
        const [sum, err] = yield* luanet.RPCCall<number>(server, "Plus", { a: 1, b: 2 });
        if (err !== null || sum !== 3) throw new Error(`Plus failed: ${err?.message ?? sum}`);
        if (t0 < start) continue;
        cpu0 ??= process.cpuUsage();
        latencies.push(performance.now() - t0);
        if (logging) luanet.log.info("Plus", { a: 1, b: 2, sum });
      }
    }));
  }
  for (const t of tasks) yield* t;
  const cpu = process.cpuUsage(cpu0 ?? undefined);
  latencies.sort((x, y) => x - y);
  console.log(JSON.stringify({
    rate: latencies.length / Number(seconds),
    p50: latencies[latencies.length >> 1],
    p99: latencies[Math.floor(latencies.length * 0.99)],
    cpu: cpu.user + cpu.system,
    calls: latencies.length,
  }));
  process.exit(0);
}
