/**
 * A soak client: for a fixed time, many tasks call the soak servers in a steady loop, each call
 * with a deadline, while one task per server sends it numbered messages. Every call is classified
 * and counted; at the end the client prints its tally and exits. soak/run.ts starts it; by hand:
 *
 *   LUANET_NS=127.0.0.1:8010 luanet soak/client.ts --name ClientA --seconds 60 --tasks 30 \
 *     --servers EchoTcp,EchoUnix,EchoUdp
 *
 * Options: --name N (its service name and the tag in its calls), --anonymous (start no service of
 * its own: replies then come back on the connections it opened), --seconds, --tasks, --servers.
 *
 * A call ends in exactly one of:
 *   ok        err === null and the result is the one expected
 *   wrong     err === null but the result is not the one expected        (a failure of the soak)
 *   a code    err is an RPCError with one of luanet's error codes, counted by code
 *   untyped   anything else: an error without a known code, or RPCCall threw   (a failure)
 * and independently of that, `over`: it took longer than its deadline plus GRACE_MS (a failure),
 * even after subtracting the longest stall of this process's event loop during the call (see
 * stalls.ts). A call late only by such a stall is counted as `stalled`, not a failure: on a
 * machine too busy to run this process, no runtime can answer on time.
 * A call still unfinished DEADLINE_MS + GRACE_MS + 2 s after the load stops is `hung` (a failure). SendMsg
 * calls are counted the same way (sent, or an error code), with the client's default deadline.
 */
import type {} from "luanet/globals";
import { isDeepStrictEqual, parseArgs } from "node:util";
import { ErrorCode, RPCError } from "luanet";
import * as net from "luanet/net";
import { memory, report } from "./report.ts";
import { longestStall, stalledDuring } from "./stalls.ts";

/** Every call's deadline, and what a call may overrun it by (timers, a busy CPU) before it counts. */
const DEADLINE_MS = 1000;
const GRACE_MS = 250;
/** Pauses that bound the load: after each call, and between two messages to one server. */
const CALL_PAUSE_MS = 10;
const MSG_PAUSE_MS = 20;

const { values: opts } = parseArgs({
  options: {
    name: { type: "string" },
    anonymous: { type: "boolean", default: false },
    seconds: { type: "string" },
    tasks: { type: "string", default: "30" },
    servers: { type: "string" },
  },
});
const name = opts.name!;
const seconds = Number(opts.seconds);
const tasks = Number(opts.tasks);
const servers = (opts.servers ?? "").split(",").filter((s) => s !== "");
if (!name || !(seconds > 0) || !(tasks > 0) || servers.length === 0) {
  throw new TypeError("usage: luanet soak/client.ts --name N [--anonymous] --seconds S --tasks T --servers A,B,C");
}

/** The counts this client reports. */
const tally = {
  calls: 0, ok: 0, wrong: 0, untyped: 0, over: 0, stalled: 0, hung: 0,
  /** RPCError codes -> how many calls ended with each. */
  errors: {} as Record<string, number>,
  /** The slowest call, in ms. */
  maxMs: 0,
  sends: 0, sent: 0, sendUntyped: 0, sendOver: 0, sendStalled: 0, sendErrors: {} as Record<string, number>, sendMaxMs: 0,
  /** The first few failures, word for word, as evidence. */
  examples: [] as string[],
  /** The longest stall of this process's event loop (ms). */
  maxStallMs: 0,
};
const knownCodes = new Set<string>(Object.values(ErrorCode));

function evidence(text: string): void {
  if (tally.examples.length < 5) tally.examples.push(text);
  luanet.log.error(text);
}

/** Is this a typed error, and which code? null: not a typed error. */
function codeOf(err: unknown): string | null {
  return err instanceof RPCError && knownCodes.has(err.code) ? err.code : null;
}

/** One call: to which server, which function, and what the result must be. */
function nextCall(task: number, seq: number, server: string) {
  if (seq % 5 === 0) {
    const a = task * 1000 + seq, b = seq % 97;
    return { func: "SlowPlus", args: { a, b, ms: seq % 50 }, expected: a + b };
  }
  return { func: "Echo", args: { client: name, seq }, expected: { client: name, seq, server } };
}

/** Was a call that took `ms` on time (null), late by a stall of this process ("stalled"), or "over"? */
function lateness(started: number, ms: number): "over" | "stalled" | null {
  if (ms <= DEADLINE_MS + GRACE_MS) return null;
  const stall = stalledDuring(started, started + ms);
  return ms - stall > DEADLINE_MS + GRACE_MS ? "over" : "stalled";
}

let stopping = false;
let inCall = 0; // calls started and not yet returned

function* caller(task: number) {
  for (let seq = 1; !stopping; seq++) {
    const server = servers[(task + seq) % servers.length]!;
    const { func, args, expected } = nextCall(task, seq, server);
    const started = performance.now();
    inCall++;
    let result: [unknown, unknown];
    try {
      result = yield* luanet.RPCCall(server, func, args, { timeout: DEADLINE_MS });
    } catch (error) {
      result = [null, error]; // RPCCall should never throw: this counts as untyped
    } finally {
      inCall--;
    }
    const ms = performance.now() - started;
    const [ret, err] = result;
    tally.calls++;
    tally.maxMs = Math.max(tally.maxMs, ms);
    const late = lateness(started, ms);
    if (late === "over") evidence(`${server}.${func} took ${ms.toFixed(0)} ms, over its ${DEADLINE_MS} ms deadline (err: ${String(err)}; longest stall of this process meanwhile: ${stalledDuring(started, started + ms).toFixed(0)} ms)`);
    if (late !== null) tally[late]++;
    if (err === null) {
      if (isDeepStrictEqual(ret, expected)) tally.ok++;
      else {
        tally.wrong++;
        evidence(`${server}.${func}(${JSON.stringify(args)}) returned ${JSON.stringify(ret)}, expected ${JSON.stringify(expected)}`);
      }
    } else {
      const code = codeOf(err);
      if (code === null) {
        tally.untyped++;
        evidence(`${server}.${func} failed with an untyped error: ${err instanceof Error ? err.stack : String(err)}`);
      } else tally.errors[code] = (tally.errors[code] ?? 0) + 1;
    }
    yield* Sche.Sleep(CALL_PAUSE_MS);
  }
}

function* sender(server: string) {
  for (let n = 1; !stopping; n++) {
    const started = performance.now();
    inCall++;
    let err: unknown;
    try {
      err = yield* luanet.SendMsg(server, { client: name, n, check: n * 7 + 1 });
    } catch (error) {
      err = error;
    } finally {
      inCall--;
    }
    const ms = performance.now() - started;
    tally.sends++;
    tally.sendMaxMs = Math.max(tally.sendMaxMs, ms);
    const late = lateness(started, ms);
    if (late === "over") evidence(`SendMsg to ${server} took ${ms.toFixed(0)} ms, over the ${DEADLINE_MS} ms deadline (err: ${String(err)}; longest stall of this process meanwhile: ${stalledDuring(started, started + ms).toFixed(0)} ms)`);
    if (late === "over") tally.sendOver++;
    if (late === "stalled") tally.sendStalled++;
    if (err === null) tally.sent++;
    else {
      const code = codeOf(err);
      if (code === null) {
        tally.sendUntyped++;
        evidence(`SendMsg to ${server} failed with an untyped error: ${err instanceof Error ? err.stack : String(err)}`);
      } else tally.sendErrors[code] = (tally.sendErrors[code] ?? 0) + 1;
    }
    yield* Sche.Sleep(MSG_PAUSE_MS);
  }
}

export default function* () {
  // The default deadline (SendMsg's connect, lookups) is the calls' deadline too.
  luanet.Configure({ rpcTimeout: DEADLINE_MS });
  if (!opts.anonymous) {
    const [, listenError] = yield* luanet.StartLocalService(name, SOCK_STREAM, net.netaddr_ipv4("127.0.0.1", 0));
    if (listenError !== null) throw listenError;
    const registerError = yield* luanet.Register2Name(net.parseAddr(process.env.LUANET_NS!));
    if (registerError !== null) throw registerError;
  }
  report("ready");

  const workers = [];
  for (let t = 0; t < tasks; t++) workers.push(Sche.Spawn(caller, t));
  for (const server of servers) workers.push(Sche.Spawn(sender, server));

  const stopAt = performance.now() + seconds * 1000;
  while (performance.now() < stopAt) {
    yield* Sche.Sleep(Math.min(1000, Math.max(1, stopAt - performance.now())));
    report("stats", { ...memory(), calls: tally.calls, ok: tally.ok, inCall });
  }

  // Stop starting calls; every call in flight must end within its deadline (plus grace).
  stopping = true;
  const drainUntil = performance.now() + DEADLINE_MS + GRACE_MS + 2000;
  while (inCall > 0 && performance.now() < drainUntil) yield* Sche.Sleep(20);
  tally.hung = inCall;
  if (inCall > 0) evidence(`${inCall} call(s) still unfinished ${DEADLINE_MS + GRACE_MS + 2000} ms after the load stopped`);
  tally.maxStallMs = longestStall();
  report("summary", { deadlineMs: DEADLINE_MS, graceMs: GRACE_MS, ...tally });
  for (const w of workers) w.halt();
  luanet.Exit(0);
}
