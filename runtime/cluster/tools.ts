/**
 * The tools that act on running clusters through their supervisors (`luanet.supervisor@<host>`,
 * found in the registry, one per host): `luanet ps`, `restart`, `stop`, `start`, `scale`.
 * Each asks every supervisor (or the one `--host` names) and prints what each did; a target no
 * supervisor runs is an error (exit 1).
 * @internal
 */
import { describe, ErrorCode } from "../errors.js";
import { cell } from "../printable.js";
import { runtime } from "../process.js";
import type { Instruction } from "../scheduler/instruction.js";
import { RPCCall } from "../service/api.js";
import { uptime } from "../stats/format.js";
import { fail, LS_CELL_WIDTH, table } from "../tools.js";
import { SUPERVISOR_PREFIX, type PsRow } from "./supervisor.js";

export interface ClusterToolFlags {
  /** Only the supervisor of this host. */
  host?: string;
  /** How long one supervisor may take (a restart of a large group drains each member in turn). */
  timeout?: number;
}

const DEFAULT_TIMEOUT_MS = 300_000;

/** The supervisors' names in the registry (the one of `host` only, if given); fails if none. */
function* supervisors(flags: ClusterToolFlags): Generator<Instruction, string[] | null, unknown> {
  const self = runtime.root;
  let names: string[];
  try {
    names = (yield* self.registry.list(self.config.rpcTimeout)).map((s) => s.name).filter((n) => n.startsWith(SUPERVISOR_PREFIX)).sort();
  } catch (error) {
    fail((error as { code?: string }).code ?? ErrorCode.unavailable, (error as Error).message);
    return null;
  }
  if (flags.host !== undefined) names = names.filter((n) => n === SUPERVISOR_PREFIX + flags.host);
  if (names.length === 0) {
    fail(ErrorCode.unavailable, flags.host === undefined ? `no supervisor is registered in ${self.registry.where}: start one with luanet up`
      : `no supervisor of the host "${flags.host}" is registered in ${self.registry.where}`);
    return null;
  }
  return names;
}

const percent = (cpu: number | null) => (cpu === null ? "-" : `${cpu.toFixed(1)}%`);
const megabytes = (rss: number | null) => (rss === null ? "-" : `${(rss / 1048576).toFixed(1)}M`);

export function* ps(flags: ClusterToolFlags) {
  const names = yield* supervisors(flags);
  if (names === null) return;
  const rows: PsRow[] = [];
  for (const name of names) {
    const [ret, err] = yield* RPCCall<{ rows: PsRow[] }>(runtime.root, name, "Ps", null, { timeout: flags.timeout ?? 10_000 });
    if (err !== null) fail(err.code, `${name}: ${err.message}`);
    else rows.push(...ret.rows);
  }
  const now = rows.map((r) => [
    r.name, r.process, r.pid === null ? "-" : String(r.pid), r.host, r.status + (r.adopted ? " (adopted)" : ""), String(r.restarts),
    r.uptime === null ? "-" : uptime(r.uptime), percent(r.cpu), megabytes(r.rss), r.why ?? "",
  ].map((text) => cell(text, LS_CELL_WIDTH)));
  process.stdout.write(table(["NAME", "PROCESS", "PID", "HOST", "STATUS", "RESTARTS", "UPTIME", "CPU", "RSS", "NOTE"], now));
}

/** `luanet restart|stop|start <target>` (func: Restart, Stop, Start), or `scale` (args given). */
export function* act(func: "Restart" | "Stop" | "Start" | "Scale", args: { target: string } | { service: string; count: number }, flags: ClusterToolFlags) {
  const names = yield* supervisors(flags);
  if (names === null) return;
  const what = "target" in args ? args.target : args.service;
  const answers: { name: string; done: string[] }[] = [];
  let errors = 0;
  for (const name of names) {
    const [ret, err] = yield* RPCCall<{ matched: boolean; done: string[] }>(runtime.root, name, func, args, { timeout: flags.timeout ?? DEFAULT_TIMEOUT_MS });
    if (err !== null) {
      errors++;
      fail(err.code, `${name}: ${err.message}${err.code === "timeout" ? " (the operation goes on in the supervisor: see luanet ps before asking again)" : ""}`);
    } else if (ret.matched) answers.push({ name, done: ret.done });
  }
  if (func === "Scale" && answers.length > 1 && flags.host === undefined) {
    // Asked of every supervisor, each scaled its own: say so, as it may not be what was meant.
    process.stderr.write(`luanet: ${what} runs on ${answers.length} hosts, each scaled to ${(args as { count: number }).count}; use --host to scale one\n`);
  }
  for (const { name, done } of answers) for (const line of done) process.stdout.write(`${names.length > 1 ? `${name.slice(SUPERVISOR_PREFIX.length)}: ` : ""}${line}\n`);
  if (answers.length === 0 && errors === 0) fail(ErrorCode.not_found, `no supervisor runs ${describe(what)} (${names.join(", ")} asked)`);
}

export { parseScale } from "./scale.js";
