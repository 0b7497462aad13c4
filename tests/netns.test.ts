/**
 * Services on three simulated hosts: Linux network namespaces on one switch (helpers/netns.ts),
 * with the name service on a fourth. S1 on h1 calls S2 on h2 and S3 on h3 without pause; h3's
 * cable is pulled, and plugged back once the name service has dropped S3. Calls to S3 must fail
 * promptly with a typed error while calls to S2 all succeed; a newcomer that starts calling S3
 * during the cut must be told `unavailable` once the name service has dropped S3; after the cable
 * is back S3 must re-register, and both callers reach it again.
 *
 * Why the switch port goes down rather than netem loss: both drop every packet silently, which is
 * what a dead host or a pulled cable looks like (no RST, no ICMP), and a port that is down also
 * stops ARP, so it is the whole cable. Nothing then tells TCP the peer is gone: luanet's own
 * liveness check does (PING on an idle connection, closed after `peerTimeout` of silence), so S1's
 * calls fail `disconnected`, and its reconnects `unavailable`, well before their deadline.
 *
 * Skipped, with the reason, where namespaces cannot be made (not Linux, not root, no iproute2).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { poll } from "./helpers/cluster.ts";
import { createNetwork, launchOn, luanetOn, netnsUnsupported, type Host } from "./helpers/netns.ts";
import { tempDir, type Exit, type Running } from "./helpers/proc.ts";

/** S1's deadline per call, longer than PEER_TIMEOUT_MS: calls to the cut host must not wait for it. */
const RPC_TIMEOUT_MS = 4000;
/** A connection silent this long (PINGs unanswered) is closed, and a connect unanswered this long
 * is given up: calls to the cut host fail `disconnected` or `unavailable` within it (plus slack). */
const PEER_TIMEOUT_MS = 1000;
const SLACK_MS = 1000;
/** The name service drops a silent registration after this (the default 10 s would slow the test). */
const NS_EXPIRY_MS = 2000;
/** The cable stays out at least this long, so S1 sees several failures in a row. */
const MIN_CUT_MS = 4000;
/**
 * After the cable is back, S1 connects to S3 afresh (its old connection was closed for silence) as
 * soon as S3 has registered again: well under a second here. The bound leaves room for a slow machine.
 */
const RECOVERY_MS = 10_000;
/** Starting a luanet process takes about a second; much longer on a loaded machine. */
const STARTUP_MS = 20_000;

interface Outcome {
  target: string;
  start: number;
  end: number;
  code: string | null;
  pid: number | null;
}

/**
 * Two tasks per target (`targets`: an expression, a comma-separated list) call it in a loop, once
 * the file named by $GO exists if that is set; each outcome is one JSON line with wall-clock
 * times (the test's clock: same machine).
 */
const callLoop = (targets: string) => `
import { existsSync } from "node:fs";
luanet.Configure({ rpcTimeout: ${RPC_TIMEOUT_MS}, peerTimeout: ${PEER_TIMEOUT_MS} });
console.log("ready");
for (const target of ${targets}.split(",").filter(Boolean)) {
  for (let i = 0; i < 2; i++) {
    Sche.Spawn(function* () {
      while (process.env.GO !== undefined && !existsSync(process.env.GO)) yield* Sche.Sleep(20);
      for (;;) {
        const start = Date.now();
        const [ret, err] = yield* luanet.RPCCall<{ pid: number }>(target, "Where", null);
        console.log(JSON.stringify({ target, start, end: Date.now(), code: err?.code ?? null, pid: ret?.pid ?? null }));
        yield* Sche.Sleep(err === null ? 20 : 50);
      }
    });
  }
}
`;

/** A service that answers "Where", and prints its pid so the test can check that `ip netns exec` did not fork. */
const service = (name: string) => `
luanet.RegRPCFunction("Where", () => ({ name: ${JSON.stringify(name)}, pid: process.pid }));
luanet.StartLocalService(${JSON.stringify(name)}, SOCK_STREAM, net.netaddr_ipv4(process.env.HOST_IP!, 0));
luanet.Register2Name(NS);
console.log("pid " + process.pid);
${callLoop(`(process.env.CALL ?? "")`)}`;

const outcomes = (proc: Running): Outcome[] =>
  proc.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Outcome);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// On the test, not the suite: the runner counts skipped tests, not skipped suites.
const skip = netnsUnsupported() ?? false;

describe("three hosts on a switch, one cable pulled and plugged back", () => {
  test("calls to the cut host fail promptly, calls to the others go on, and the cut host comes back", { skip }, async () => {
    const net = createNetwork(["ns", "h1", "h2", "h3"]);
    const { ns: nsHost, h1, h2, h3 } = net.hosts as Record<string, Host>;
    const tool = (args: string[]): Promise<Exit> => luanetOn(h1!, [...args, "--ns", nsAddr]).exited(20_000);
    const listed = async () => (await tool(["ls"])).stdout;

    const nameService = luanetOn(nsHost!, ["nameservice", "--listen", `${nsHost!.ip}:0`], { env: { LUANET_NS_EXPIRY_MS: String(NS_EXPIRY_MS) } });
    const nsAddr = (await nameService.waitFor(/nameservice listening on (\S+)/, STARTUP_MS, "stderr"))[1]!;
    assert.equal(nsAddr.split(":")[0], nsHost!.ip);

    const [s1, s2, s3] = [h1!, h2!, h3!].map((host, i) =>
      launchOn(host, nsAddr, service(`S${i + 1}`), { name: `s${i + 1}.ts`, env: { HOST_IP: host.ip, CALL: i === 0 ? "S2,S3" : "" } }));
    for (const svc of [s1!, s2!, s3!]) {
      await svc.waitFor(/registered with the name service at /, STARTUP_MS, "stderr");
      const pid = Number((await svc.waitFor(/^pid (\d+)$/m, STARTUP_MS))[1]);
      assert.equal(pid, svc.child.pid, "`ip netns exec` execs luanet, so the PID the test kills is the service's own");
    }
    await poll("S1's calls to S2 and S3 succeeding", () => {
      const ok = outcomes(s1!).filter((o) => o.code === null);
      return ok.some((o) => o.target === "S2") && ok.some((o) => o.target === "S3") ? true : undefined;
    }, STARTUP_MS);
    const warmAt = Date.now(); // S1 starts calling before S2 and S3 have registered: it is told unavailable
    assert.match(await listed(), /^S3 +\S+:\d+ /m);

    // A newcomer on h2, with no connection to S3 yet, will start calling it once the cable is
    // out. h2 resolves h3's address as it would a router's, so the newcomer's connect attempts get
    // no answer at all (not a quick "no route to host" when ARP gives up).
    const go = join(tempDir(), "go");
    const newcomer = launchOn(h2!, nsAddr, callLoop(`"S3"`), { name: "newcomer.ts", env: { GO: go } });
    await newcomer.waitFor(/^ready$/m, STARTUP_MS);
    net.pinNeighbour(h2!, h3!);

    // Pull h3's cable, and keep it out until the name service has dropped S3 and the newcomer
    // has been told so.
    net.cut(h3!);
    const cutAt = Date.now();
    writeFileSync(go, "");
    await poll("the name service dropping S3", async () => (/^S3 /m.test(await listed()) ? undefined : true), NS_EXPIRY_MS + 8000, 200);
    const dropped = Date.now() - cutAt;
    await poll("the newcomer told S3 is unavailable", () => outcomes(newcomer).find((o) => o.code === "unavailable"), 2 * RPC_TIMEOUT_MS + SLACK_MS);
    const fresh = await tool(["call", "S3", "Where"]);
    assert.equal(fresh.code, 1);
    assert.match(fresh.stderr, /unavailable: no service named "S3" is registered/, "a caller without a connection to S3 is told at once");
    await sleep(Math.max(0, cutAt + MIN_CUT_MS - Date.now()));
    net.restore(h3!);
    const restoredAt = Date.now();

    const newcomerBack = await poll("a call from the newcomer to S3 that succeeds",
      () => outcomes(newcomer).find((o) => o.code === null), RECOVERY_MS + 2000);
    const recovered = await poll("a call to S3 that succeeds after the cable is back",
      () => outcomes(s1!).find((o) => o.target === "S3" && o.code === null && o.start >= restoredAt), RECOVERY_MS + 2000);
    await s3!.waitFor(/S3 registered with the name service at \S+ again/, Math.max(1, restoredAt + RECOVERY_MS - Date.now()), "stderr");
    const reregistered = Date.now() - restoredAt; // an upper bound: the line may have come earlier
    await poll("S3 listed again", async () => (/^S3 /m.test(await listed()) ? true : undefined), 10_000, 200);

    const all = outcomes(s1!);
    const toS3 = all.filter((o) => o.target === "S3");
    const duringCut = toS3.filter((o) => o.start >= cutAt && o.end <= restoredAt);
    const failed = duringCut.filter((o) => o.code !== null);
    const timeline = () => JSON.stringify(toS3.filter((o) => o.end > cutAt - 500).map((o) => [o.start - cutAt, o.end - cutAt, o.code]));
    assert.ok(failed.length >= 2, `calls to S3 fail while its cable is out: ${timeline()}`);
    assert.equal(failed.length, duringCut.length, `no call to S3 started after the cut succeeds before the cable is back: ${timeline()}`);
    for (const o of failed) {
      assert.ok(["disconnected", "unavailable"].includes(o.code!), `disconnected or unavailable, got ${o.code}: ${timeline()}`);
      assert.ok(o.end - o.start <= PEER_TIMEOUT_MS + SLACK_MS, `each failure comes within peerTimeout, long before the deadline: ${timeline()}`);
    }
    const firstFailure = toS3.find((o) => o.end >= cutAt && o.code !== null)!;
    assert.ok(firstFailure.end - cutAt <= PEER_TIMEOUT_MS + SLACK_MS, `the first failure comes within peerTimeout of the cut: ${timeline()}`);
    assert.equal(recovered.pid, s3!.child.pid, "the same S3 process answers again");
    assert.ok(recovered.end - restoredAt <= RECOVERY_MS, `S3 answers within ${RECOVERY_MS} ms of the cable being back: ${timeline()}`);

    // The newcomer never reached S3 before the cable came back: its connect got no answer (given
    // up after rpcTimeout, so it looked S3 up again), then the name service had no S3. Every call
    // failed within its deadline, and it reaches S3 once S3 is back.
    const fromNewcomer = outcomes(newcomer);
    const newcomerTimeline = () => JSON.stringify(fromNewcomer.map((o) => [o.start - cutAt, o.end - cutAt, o.code]));
    for (const o of fromNewcomer.filter((o) => o.end <= restoredAt)) {
      assert.equal(o.code, "unavailable", `the newcomer's calls during the cut fail unavailable: ${newcomerTimeline()}`);
      assert.ok(o.end - o.start <= PEER_TIMEOUT_MS + SLACK_MS, `each within peerTimeout: ${newcomerTimeline()}`);
    }
    assert.equal(newcomerBack.pid, s3!.child.pid);
    assert.ok(newcomerBack.end - restoredAt <= RECOVERY_MS, `the newcomer reaches S3 within ${RECOVERY_MS} ms of the cable being back: ${newcomerTimeline()}`);

    const toS2 = all.filter((o) => o.target === "S2" && o.start >= warmAt);
    assert.deepEqual(toS2.filter((o) => o.code !== null), [], "no call to S2 fails once both are up");
    const s2DuringCut = toS2.filter((o) => o.start >= cutAt && o.end <= restoredAt);
    assert.ok(s2DuringCut.length >= 20, `calls to S2 go on while h3 is cut off (${s2DuringCut.length} in ${restoredAt - cutAt} ms)`);
    assert.ok(s2DuringCut.every((o) => o.pid === s2!.child.pid));

    const figures = {
      droppedByNameServiceMs: dropped, cutMs: restoredAt - cutAt, failuresDuringCut: failed.length,
      firstFailureMs: firstFailure.end - cutAt, recoveryMs: recovered.end - restoredAt, reregisteredWithinMs: reregistered,
      newcomerRecoveryMs: newcomerBack.end - restoredAt, s2CallsDuringCut: s2DuringCut.length,
    };
    console.log(JSON.stringify(figures));
  });
});
