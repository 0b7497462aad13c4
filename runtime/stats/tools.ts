/**
 * `luanet stats <service>` and `luanet tasks <service>`: a service's counters and its live tasks,
 * read through the reserved functions luanet.stats and luanet.tasks (reserved.ts) and printed as
 * tables, or with --json as the documents themselves. A group's name prints each member in turn.
 * @internal
 */
import { ErrorCode } from "../errors.js";
import { badName } from "../names.js";
import { cell, printable, printableJson } from "../printable.js";
import { runtime } from "../process.js";
import type { Instruction } from "../scheduler/instruction.js";
import { GetGroupMembers, RPCCall } from "../service/api.js";
import { STATS_FUNCTION, TASKS_FUNCTION, type TasksDocument } from "../service/reserved.js";
import { fail, LS_CELL_WIDTH, table } from "../tools.js";
import { bytes, ms, uptime, waited } from "./format.js";
import type { StatsDocument } from "./snapshot.js";

export interface StatsFlags {
  json?: boolean;
  timeout?: number;
}

export interface TasksFlags extends StatsFlags {
  stacks?: boolean;
  limit?: number;
}

const row = (cells: string[]) => cells.map((text) => cell(text, LS_CELL_WIDTH));

/** The services `target` names: a group's members, sorted, or the service itself. */
function* targets(target: string, timeout: number | undefined): Generator<Instruction, string[] | null, unknown> {
  const bad = badName(target);
  if (bad !== null) {
    fail(ErrorCode.bad_request, `not a service or group name: ${bad}`);
    return null;
  }
  const [members, err] = yield* GetGroupMembers(runtime.root, target, timeout === undefined ? undefined : { timeout });
  if (err !== null) {
    fail(err.code, err.message);
    return null;
  }
  return members.length > 0 ? members.sort() : [target];
}

/** Ask each service of `target` for `func(args)`; print each answer with `show` (or as JSON). */
function* each<T>(target: string, func: string, args: unknown, flags: StatsFlags, show: (doc: T) => string) {
  const names = yield* targets(target, flags.timeout);
  if (names === null) return;
  const docs: T[] = [];
  for (const name of names) {
    const [doc, err] = yield* RPCCall<T>(runtime.root, name, func, args, flags.timeout === undefined ? undefined : { timeout: flags.timeout });
    if (err !== null) {
      fail(err.code, `${name}: ${err.message}${err.code === "no_such_function" ? " (it runs a luanet from before stats)" : ""}`);
      continue;
    }
    if (flags.json === true) docs.push(doc);
    else process.stdout.write((names.length > 1 ? `== ${printable(name)}\n` : "") + show(doc));
  }
  if (flags.json === true && docs.length > 0) {
    process.stdout.write(printableJson(JSON.stringify(names.length > 1 ? docs : docs[0], null, 2)) + "\n");
  }
}

export function* statsTool(target: string, flags: StatsFlags) {
  yield* each<StatsDocument>(target, STATS_FUNCTION, null, flags, formatStats);
}

export function* tasksTool(target: string, flags: TasksFlags) {
  const args: { limit?: number; stacks?: boolean } = {};
  if (flags.limit !== undefined) args.limit = flags.limit;
  if (flags.stacks === true) args.stacks = true;
  yield* each<TasksDocument>(target, TASKS_FUNCTION, args, flags, formatTasks);
}

function codes(errors: Record<string, number>): string {
  const entries = Object.entries(errors).sort(([, a], [, b]) => b - a);
  const total = entries.reduce((n, [, k]) => n + k, 0);
  return total === 0 ? "0" : `${total} (${entries.map(([code, n]) => `${code} ${n}`).join(", ")})`;
}

export function formatStats(doc: StatsDocument): string {
  const p = doc.process;
  const loop = p.eventLoop;
  let out = `${printable(doc.service ?? "(no service)")}  pid ${doc.pid} on ${printable(doc.host)}  up ${uptime(doc.uptime * 1000)}` +
    `  rss ${bytes(p.rss)}  heap ${bytes(p.heapUsed)}/${bytes(p.heapTotal)}  cpu ${((p.cpuUser + p.cpuSystem) / 1e6).toFixed(1)}s` +
    `  event loop p99 ${ms(loop.p99)} max ${ms(loop.max)} (last ${loop.seconds}s)\n`;
  if (doc.groups.length > 0) out += `groups: ${doc.groups.map((g) => printable(g)).join(", ")}\n`;
  out += "\n";
  if (!doc.counting) out += "calls are not counted in this process (LUANET_STATS=off)\n";
  const funcs = Object.entries(doc.funcs).sort(([a], [b]) => a.localeCompare(b));
  if (funcs.length > 0) {
    out += table(["FUNCTION", "CALLS", "ERRORS", "IN FLIGHT", `P50 (${doc.window}s)`, "P90", "P99", "MAX", "P99 (ALL)", "MAX (ALL)"], funcs.map(([name, f]) => row([
      name, String(f.calls), codes(f.errors), String(f.inFlight),
      ms(f.recent.p50), ms(f.recent.p90), ms(f.recent.p99), ms(f.recent.max), ms(f.total.p99), ms(f.total.max),
    ])));
  } else if (doc.counting) out += "no function has been called\n";
  if (doc.unknownCalls > 0) out += `calls to functions it does not have: ${doc.unknownCalls}\n`;
  const peers = Object.entries(doc.peers).sort(([a], [b]) => a.localeCompare(b));
  if (peers.length > 0) {
    out += "\n" + table(["PEER", "CALLS OUT", "CALLS IN", "MSGS OUT", "MSGS IN", "IN FLIGHT", "BYTES IN", "BYTES OUT", "RECONNECTS", "CONNECTED"], peers.map(([name, q]) => row([
      name, String(q.callsOut), String(q.callsIn), String(q.msgsOut), String(q.msgsIn), String(q.inFlight),
      bytes(q.bytesIn), bytes(q.bytesOut), String(q.reconnects), q.connected ? "yes" : "no",
    ])));
  }
  const m = doc.mailbox;
  const h = doc.handlers;
  const t = doc.tasks;
  const w = t.waiting;
  out += `\nmailbox: ${m.length} messages (${bytes(m.bytes)}) of at most ${m.maxLength} (${bytes(m.maxBytes)}); ${m.received} received, ${m.dropped} dropped\n`;
  out += `handlers: ${h.running} running (at most ${h.maxRunning}), ${h.queued} queued (${bytes(h.queuedBytes)}, at most ${h.maxQueued})\n`;
  out += `tasks: ${t.total} (${t.running} running, ${t.ready} ready, ${t.suspended} waiting: ${w.rpc} in RPCCall, ${w.getmsg} in GetMsg, ${w.sleep} in sleep, ${w.block} blocked, ${w.other} other)\n`;
  return out;
}

export function formatTasks(doc: TasksDocument): string {
  const rows = doc.tasks.map((t) => row([String(t.id), t.name, t.state, t.waitingOn ?? "-", t.waitingMs === null ? "-" : waited(t.waitingMs)]));
  let out = table(["ID", "NAME", "STATE", "WAITING ON", "FOR"], rows);
  if (doc.tasks.some((t) => t.stack !== undefined)) {
    out += "\n";
    for (const t of doc.tasks) if (t.stack !== undefined) out += `task ${t.id} (${printable(t.name)}) was spawned\n${t.stack.split("\n").map((line) => `  ${printable(line.trim())}`).join("\n")}\n`;
  }
  const shown = doc.tasks.length < doc.total ? `${doc.tasks.length} of ${doc.total} tasks, the longest waiting first (--limit for more)` : `${doc.total} tasks`;
  out += `${shown} of ${printable(doc.service ?? "(no service)")} (pid ${doc.pid})\n`;
  if (doc.recordingStacks && !doc.tasks.some((t) => t.stack !== undefined)) {
    out += "spawn stacks are being recorded for a minute: tasks spawned from now on will have one (ask again with --stacks)\n";
  }
  return out;
}
