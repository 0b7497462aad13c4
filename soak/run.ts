/**
 * `npm run soak -- --seconds N` (default 60): a luanet cluster under steady load while its servers
 * are killed and restarted, checking that nothing is lost silently.
 *
 * What runs (every process is `node --expose-gc bin/luanet.js ...`, started and killed here):
 *   - a name service (`luanet nameservice`);
 *   - four servers (soak/server.ts): EchoTcp (TCP), EchoUnix (UNIX socket), EchoUdp (UDP), and
 *     EchoSteady (TCP), which is never killed, so one server's memory is watched for the whole run;
 *   - three clients (soak/client.ts), 30 calling tasks each, for N seconds: ClientA and ClientB
 *     run services of their own (servers reply over their own connection to them), ClientC runs
 *     none (replies come back on the connection it opened). Each also sends messages.
 * Every KILL_EVERY_MS one of the first three servers, in turn, gets SIGKILL and is started again;
 * half way between two kills another one is frozen (SIGSTOP) for FREEZE_MS, longer than a call's
 * deadline, then let go (SIGCONT): calls to it must end with `timeout` in time, and the replies
 * it sends late must be dropped, not handed to a later call.
 *
 * The run fails (exit 1) if any client saw a wrong result, an untyped error, an error code other
 * than timeout/unavailable/disconnected, a call or SendMsg that overran its deadline by more than
 * the grace (a stall of the client's own event loop, when the machine is too busy to run it, is
 * not counted against the runtime: see stalls.ts), a call still hanging after the load stopped; if fewer than half of a client's calls
 * succeeded; if a server got a damaged or (over a stream) out-of-order message; if a restarted
 * server did not come back or served no call in 3 s; or if a process's memory was not flat after
 * warm-up (the rule is in judge.ts and printed with the results). Exit 2: a usage error.
 *
 * It prints one line per restart, then the summary tables. Logs of every process are written to
 * a temporary folder, kept (and their ERROR lines printed) when the run fails.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ALLOWED_FRACTION, HEAP_MIB, judgeMemory, RSS_MIB, median, mib, MIN_WARMUP_MS, showGrowth, table, WARMUP_FRACTION, type Sample } from "./judge.ts";
import { ProcessGroup, rssOf } from "../tools/procs.ts";
import { startScript, type Line, type Script as Proc } from "./lines.ts";

const KILL_EVERY_MS = 4000;
/** How long a frozen server stays stopped: longer than a call's deadline (1 s). */
const FREEZE_MS = 1500;
const USAGE = `usage: npm run soak -- [--seconds N] [--keep]

Runs a luanet name service, 4 servers and 3 clients under load for N seconds (default 60,
at least 20), killing a server with SIGKILL and restarting it every ${KILL_EVERY_MS / 1000} s and
freezing another for ${FREEZE_MS / 1000} s in between, then prints a summary and exits 0 if every
check passed, 1 if one failed. --keep keeps the logs and every memory sample (memory.jsonl)
in a temporary folder, as a failing run always does.`;
const TASKS_PER_CLIENT = 30;
/** Codes a call may end with while servers die: anything else is a finding. */
const EXPECTED_CODES = new Set(["timeout", "unavailable", "disconnected"]);
/** How long a process may take to exit after SIGTERM (luanet's shutdown grace is 5 s). */
const STOP_MS = 7000;
/** A restarted server alive this long must have served at least one call. */
const MUST_SERVE_AFTER_MS = 3000;
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

function parseOptions(argv: string[]): { seconds: number; keep: boolean } {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { seconds: { type: "string" }, keep: { type: "boolean" }, help: { type: "boolean", short: "h" } } }));
  } catch (error) {
    usageError((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const text = values.seconds ?? "60";
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 20 || n > 86_400) usageError(`--seconds must be a whole number from 20 to 86400, got ${JSON.stringify(text)}`);
  return { seconds: n, keep: values.keep === true };
}

function usageError(message: string): never {
  console.error(`soak: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const { seconds, keep } = parseOptions(process.argv.slice(2));
const dir = mkdtempSync(join(tmpdir(), "luanet-soak-"));
const logDir = join(dir, "logs");
const t0 = Date.now();
const clock = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s]`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ServerSpec { name: string; type: "stream" | "dgram"; addr: string; transport: string; killed: boolean }
const servers: ServerSpec[] = [
  { name: "EchoTcp", type: "stream", addr: "127.0.0.1:0", transport: "TCP", killed: true },
  { name: "EchoUnix", type: "stream", addr: `unix:${join(dir, "echo.sock")}`, transport: "UNIX socket", killed: true },
  { name: "EchoUdp", type: "dgram", addr: "127.0.0.1:0", transport: "UDP", killed: true },
  { name: "EchoSteady", type: "stream", addr: "127.0.0.1:0", transport: "TCP, never killed", killed: false },
];
const clients = [
  { name: "ClientA", anonymous: false },
  { name: "ClientB", anonymous: false },
  { name: "ClientC", anonymous: true },
];

/** One life of a server process: from start to SIGKILL (or the end of the run). */
interface Incarnation { proc: Proc; readyAt: number; killedAt: number | null }
const lives = new Map<string, Incarnation[]>(servers.map((s) => [s.name, []]));
const restartMs: number[] = [];
let freezes = 0;
const failures: string[] = [];

console.log(`luanet soak: ${seconds} s of load, ${clients.length} clients x ${TASKS_PER_CLIENT} tasks against ${servers.length} servers, ` +
  `one of ${servers.filter((s) => s.killed).map((s) => s.name).join(", ")} killed (SIGKILL) and restarted every ${KILL_EVERY_MS / 1000} s, ` +
  `another frozen for ${FREEZE_MS / 1000} s in between`);

// Every process started here is killed by its PID when the runner exits, however it exits.
const group = new ProcessGroup({ env: { FORCE_COLOR: "0" } });
group.exitOnSignals("soak");
const start = (label: string, args: string[], env: NodeJS.ProcessEnv) => startScript(group, label, args, env, t0);
const quiet = { LUANET_LOG_DIR: logDir, LUANET_QUIET: "1" };
const ns = start("nameservice", ["nameservice", "--listen", "127.0.0.1:0"], { LUANET_LOG_DIR: logDir });
const nsSamples: Sample[] = [];
let nsSampler: NodeJS.Timeout | undefined;

async function startServer(spec: ServerSpec, nsAddr: string): Promise<Incarnation> {
  const proc = start(spec.name, [here("server.ts"), spec.name, spec.type, spec.addr], { ...quiet, LUANET_NS: nsAddr });
  await proc.waitLine("ready", 15_000);
  const life = { proc, readyAt: Date.now(), killedAt: null };
  lives.get(spec.name)!.push(life);
  return life;
}

try {
  const nsAddr = await ns.until("listening line", () => /nameservice listening on (\S+)/.exec(ns.stderr)?.[1], 15_000);
  const nsStart = Date.now();
  nsSampler = setInterval(() => {
    const rss = rssOf(ns.pid);
    if (rss !== null) nsSamples.push({ t: Date.now() - nsStart, rss, heapUsed: null });
  }, 1000);
  await Promise.all(servers.map((s) => startServer(s, nsAddr)));

  const procs = clients.map((c) => start(c.name, [
    here("client.ts"), "--name", c.name, ...(c.anonymous ? ["--anonymous"] : []), "--seconds", String(seconds),
    "--tasks", String(TASKS_PER_CLIENT), "--servers", servers.map((s) => s.name).join(","),
  ], { ...quiet, LUANET_NS: nsAddr }));
  await Promise.all(procs.map((p) => p.waitLine("ready", 15_000)));
  const loadEnd = Date.now() + seconds * 1000;
  console.log(`${clock()} name service on ${nsAddr}; servers and clients running; logs in ${logDir}`);

  // Kill and restart, in turn, while there is time left for the restarted server to serve; half
  // way between two kills, freeze another server for a while, so calls to it run into their
  // deadline and its replies to them arrive late.
  const victims = servers.filter((s) => s.killed);
  let next = Date.now() + KILL_EVERY_MS;
  for (let k = 0; next <= loadEnd - MUST_SERVE_AFTER_MS; k++, next += KILL_EVERY_MS) {
    await sleep(next - Date.now());
    const spec = victims[k % victims.length]!;
    const old = lives.get(spec.name)!.at(-1)!;
    const killedAt = Date.now();
    await old.proc.kill9();
    old.killedAt = killedAt;
    try {
      const fresh = await startServer(spec, nsAddr);
      restartMs.push(fresh.readyAt - killedAt);
      console.log(`${clock()} kill -9 ${spec.name} (pid ${old.proc.pid}); registered again ${fresh.readyAt - killedAt} ms later as pid ${fresh.proc.pid}`);
    } catch (error) {
      failures.push(`restarting ${spec.name} failed: ${(error as Error).message}`);
      console.log(`${clock()} kill -9 ${spec.name} (pid ${old.proc.pid}); restart FAILED`);
    }
    const freezeAt = next + KILL_EVERY_MS / 2;
    if (freezeAt + FREEZE_MS > loadEnd - MUST_SERVE_AFTER_MS) continue;
    await sleep(freezeAt - Date.now());
    const frozen = lives.get(victims[(k + 2) % victims.length]!.name)!.at(-1)!.proc;
    frozen.child.kill("SIGSTOP");
    freezes++;
    try {
      await sleep(FREEZE_MS);
    } finally {
      frozen.child.kill("SIGCONT");
    }
    console.log(`${clock()} froze ${frozen.label} (pid ${frozen.pid}) for ${FREEZE_MS} ms (SIGSTOP, then SIGCONT)`);
  }

  // The clients stop by themselves; give them their drain time and a margin.
  const bound = loadEnd - Date.now() + 20_000;
  await Promise.all(procs.map((p) => Promise.race([p.exit, sleep(bound)])));
  for (const p of procs) if (p.running) failures.push(`${p.label} (pid ${p.pid}) was still running ${bound / 1000} s after its load should have ended`);
  console.log(`${clock()} clients finished; stopping the servers and the name service (SIGTERM)`);
  clearInterval(nsSampler);
  const end = Date.now();
  for (const list of lives.values()) for (const life of list) life.killedAt ??= end;
  for (const p of procs) if (!p.running && p.child.exitCode !== 0) failures.push(`${p.label} (pid ${p.pid}) exited with ${p.child.exitCode ?? p.child.signalCode}: ${p.stderr.slice(-1000)}`);
  const services = [ns, ...[...lives.values()].flat().map((l) => l.proc)];
  for (const p of services) if (!p.running && !p.stopping) failures.push(`${p.label} (pid ${p.pid}) died by itself (${p.child.exitCode ?? p.child.signalCode}): ${p.stderr.slice(-1000)}`);
  // A graceful shutdown gives tasks 5 s for their finally blocks: more than that is a hang.
  const running = services.filter((p) => p.running);
  const stopped = await Promise.all(running.map((p) => p.stop(STOP_MS)));
  running.forEach((p, i) => stopped[i] || failures.push(`${p.label} (pid ${p.pid}) did not exit within ${STOP_MS} ms of SIGTERM`));

  report(procs);
} catch (error) {
  failures.push(`the soak could not run: ${(error as Error).stack ?? String(error)}`);
} finally {
  clearInterval(nsSampler);
  group.killAll();
}

/** Memory samples of a luanet script: its stats lines, timed from the first. */
function samplesOf(lines: Line[]): Sample[] {
  const stats = lines.filter((l) => l.type === "stats");
  const first = stats[0]?.t ?? 0;
  return stats.map((l) => ({ t: l.t - first, rss: l.rss as number, heapUsed: l.heapUsed as number }));
}

function report(procs: Proc[]): void {
  const runMs = seconds * 1000;

  // Calls, per client.
  const rows: string[][] = [];
  for (const p of procs) {
    const s = p.last("summary") as (Line & Summary) | undefined;
    if (s === undefined) {
      failures.push(`${p.label} ended without its summary (exit ${p.child.exitCode ?? p.child.signalCode}): ${p.stderr.slice(-1000)}`);
      rows.push([p.label, "no summary"]);
      continue;
    }
    const other = Object.entries(s.errors).filter(([code]) => !EXPECTED_CODES.has(code));
    const sendOther = Object.entries(s.sendErrors).filter(([code]) => !EXPECTED_CODES.has(code));
    rows.push([
      p.label, String(s.calls), String(s.ok),
      ...[...EXPECTED_CODES].map((c) => String(s.errors[c] ?? 0)),
      other.map(([c, n]) => `${c}:${n}`).join(" ") || "0",
      String(s.wrong), String(s.untyped), String(s.over), String(s.hung), s.maxMs.toFixed(0),
      `${s.sent}/${s.sends}`, String(s.sendOver + s.sendUntyped + sendOther.length), String(s.stalled + s.sendStalled), s.maxStallMs.toFixed(0),
    ]);
    const bad = (what: string, n: number) => n > 0 && failures.push(`${p.label}: ${n} ${what}`);
    bad("wrong results", s.wrong);
    bad("untyped errors", s.untyped);
    bad(`calls over their deadline (${s.deadlineMs} ms + ${s.graceMs} ms grace)`, s.over);
    bad("calls hung after the load stopped", s.hung);
    bad("SendMsg calls over the deadline", s.sendOver);
    bad("SendMsg untyped errors", s.sendUntyped);
    for (const [code, n] of [...other, ...sendOther]) bad(`calls ended with the unexpected code ${code}`, n);
    if (s.ok < s.calls / 2) failures.push(`${p.label}: only ${s.ok} of ${s.calls} calls succeeded`);
    for (const e of s.examples) console.log(`  ${p.label}: ${e}`);
  }
  const first = procs.map((p) => p.last("summary") as (Line & Summary) | undefined).find((x) => x !== undefined);
  const limits = first === undefined ? "" : `deadline ${first.deadlineMs} ms; "over": took longer than the deadline + ${first.graceMs} ms, ` +
    `not counting a stall of the client's own event loop; "stalled": late only by such a stall, not a failure`;
  console.log(`\nCalls (${limits}; slowest call and longest stall in ms)`);
  console.log(table(["client", "calls", "ok", ...EXPECTED_CODES, "other codes", "wrong", "untyped", "over", "hung", "slowest", "msgs sent", "msg failures", "stalled", "stall"], rows));

  // Servers: their lives, calls served, messages.
  const srows: string[][] = [];
  for (const spec of servers) {
    const list = lives.get(spec.name)!;
    let calls = 0, msgs = 0, badMsgs = 0, misordered = 0;
    let fewest = Infinity;
    for (const life of list) {
      const st = life.proc.last("stats");
      const n = (st?.calls as number | undefined) ?? 0;
      calls += n;
      msgs += (st?.msgs as number | undefined) ?? 0;
      badMsgs += (st?.badMsgs as number | undefined) ?? 0;
      misordered += (st?.misordered as number | undefined) ?? 0;
      const lived = life.killedAt! - life.readyAt;
      if (lived >= MUST_SERVE_AFTER_MS) {
        fewest = Math.min(fewest, n);
        if (n === 0) failures.push(`${spec.name} (pid ${life.proc.pid}) lived ${(lived / 1000).toFixed(1)} s after registering and served no call`);
      }
    }
    if (badMsgs > 0) failures.push(`${spec.name}: ${badMsgs} damaged messages`);
    if (misordered > 0) failures.push(`${spec.name}: ${misordered} messages out of order`);
    srows.push([spec.name, spec.transport, String(list.length - 1), String(calls), fewest === Infinity ? "-" : String(fewest), String(msgs), String(badMsgs), String(misordered)]);
  }
  const rs = restartMs.length > 0 ? `median ${median(restartMs).toFixed(0)} ms, max ${Math.max(...restartMs)} ms` : "none";
  console.log(`\nServers (${restartMs.length} restarts, SIGKILL to registered again: ${rs}; ${freezes} freezes of ${FREEZE_MS} ms)`);
  console.log(table(["server", "transport", "kills", "calls served", "fewest in a life", "msgs", "damaged", "out of order"], srows));

  // Memory.
  const warm = Math.max(MIN_WARMUP_MS, WARMUP_FRACTION * runMs) / 1000;
  const mrows: string[][] = [];
  const judge = (label: string, pid: string, samples: Sample[]) => {
    for (const sample of samples) appendFileSync(join(dir, "memory.jsonl"), JSON.stringify({ process: label, ...sample }) + "\n");
    const v = judgeMemory(samples, runMs);
    const ok = v.skipped === null && v.rss!.ok && (v.heap === null || v.heap.ok);
    if (v.skipped === null && !ok) failures.push(`${label}: memory grew after warm-up (heapUsed ${showGrowth(v.heap)} MiB, rss ${showGrowth(v.rss)} MiB)`);
    if (v.skipped !== null) failures.push(`${label}: memory not judged: ${v.skipped}`);
    mrows.push([label, pid, showGrowth(v.heap), showGrowth(v.rss), v.skipped ?? (ok ? "flat" : "GREW")]);
  };
  judge("nameservice", String(ns.pid), nsSamples);
  for (const p of procs) judge(p.label, String(p.pid), samplesOf(p.lines));
  for (const spec of servers) {
    const list = lives.get(spec.name)!;
    if (!spec.killed) {
      judge(spec.name, String(list[0]!.proc.pid), samplesOf(list[0]!.proc.lines));
      continue;
    }
    const peak = Math.max(0, ...list.flatMap((l) => samplesOf(l.proc.lines).map((s) => s.rss)));
    const longest = Math.max(...list.map((l) => l.killedAt! - l.readyAt)) / 1000;
    mrows.push([spec.name, `${list.length} pids`, "-", `peak ${mib(peak)}`, `not judged: ${list.length} lives of at most ${longest.toFixed(0)} s`]);
  }
  console.log(`\nMemory in MiB, median of the first third after warm-up -> median of the last third (heapUsed after a forced GC)`);
  console.log(`Rule: the first ${warm} s are warm-up; flat if heapUsed grows by at most ${HEAP_MIB} MiB and rss by at most ${RSS_MIB} MiB (or ${ALLOWED_FRACTION * 100}% if more)`);
  console.log(table(["process", "pid", "heapUsed", "rss", "verdict"], mrows));
}

interface Summary {
  calls: number; ok: number; wrong: number; untyped: number; over: number; hung: number; maxMs: number;
  errors: Record<string, number>; sends: number; sent: number; sendOver: number; sendUntyped: number;
  sendErrors: Record<string, number>; maxStallMs: number; stalled: number; sendStalled: number; examples: string[]; deadlineMs: number; graceMs: number;
}

if (failures.length === 0) {
  console.log(`\nsoak PASSED (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  if (keep) console.log(`logs and memory samples kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
console.log(`\nsoak FAILED:\n${failures.map((f) => `  - ${f}`).join("\n")}`);
printErrorLines();
console.log(`logs and memory samples kept in ${dir}`);
process.exit(1);

/** The ERROR lines of every process's log, as evidence (at most 40). */
function printErrorLines(): void {
  let files: string[] = [];
  try {
    files = readdirSync(logDir);
  } catch {
    return;
  }
  const lines = files.flatMap((f) => readFileSync(join(logDir, f), "utf8").split("\n").filter((l) => / ERROR /.test(l)));
  if (lines.length === 0) return;
  console.log(`\nERROR lines in the logs (${lines.length}${lines.length > 40 ? ", the first 40" : ""}):`);
  for (const l of lines.slice(0, 40)) console.log(`  ${l}`);
}
