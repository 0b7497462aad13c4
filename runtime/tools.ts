/**
 * `luanet ls`, `luanet call`, `luanet send` and `luanet reload`: small clients of a running cluster. They run no
 * service of their own, so replies come back on the connections they open.
 * @internal
 */
import { formatAddr } from "../stdlib/net.js";
import { cell, printable, printableJson } from "./printable.js";
import { ErrorCode } from "./errors.js";
import { runtime } from "./process.js";
import type { ServiceInfo } from "./registry/types.js";
import { GetGroupMembers, RPCCall, SendMsg } from "./service/api.js";
import type { ReloadResult } from "./service/reload.js";
import { RELOAD_FUNCTION } from "./service/reserved.js";
import { uptime } from "./stats/format.js";

const BAD_JSON = Symbol("bad JSON");

function parseJson(text: string | undefined, what: string): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    fail("bad_json", `${what} must be JSON, e.g. '{"a":1}': ${(error as Error).message}`);
    process.exitCode = 2; // a usage error, like a bad option
    return BAD_JSON;
  }
}

/** Print the error the way every tool does, and make the exit code 1. What a peer sent (a
 * message, a remote stack) is escaped line by line: it cannot drive the terminal. */
export function fail(code: string, message: string): void {
  process.stderr.write(`luanet: ${printable(code)}: ${message.split("\n").map((line) => printable(line)).join("\n")}\n`);
  process.exitCode = 1;
}

/** The widest a `luanet ls` cell gets (characters); a longer one is cut with an ellipsis. */
export const LS_CELL_WIDTH = 80;

export function* ls() {
  let services;
  try {
    const self = runtime.root;
    services = yield* self.registry.list(self.config.rpcTimeout);
  } catch (error) {
    // The registries fail with RPCErrors; anything else (etcd's client failing to load) is unavailable too.
    return fail((error as { code?: string }).code ?? ErrorCode.unavailable, (error as Error).message);
  }
  const now = Date.now();
  const rows = services
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => [s.name, formatAddr(s.addr), transport(s), s.funcs.join(",") || "-", String(s.pid), uptime(now - s.started)].map((text) => cell(text, LS_CELL_WIDTH)));
  let out = table(["NAME", "ADDRESS", "TRANSPORT", "FUNCTIONS", "PID", "UPTIME"], rows);
  // Groups (luanet.JoinGroup) get a table of their own, only when there are any: one row per
  // group, its members by name. A service's row is unchanged, so scripts that read it still can.
  const groups = new Map<string, string[]>();
  // (A name service older than groups lists no `groups`: its services are in none.)
  for (const s of services) for (const g of Array.isArray(s.groups) ? s.groups.map(String) : []) groups.set(g, [...groups.get(g) ?? [], s.name]);
  if (groups.size > 0) {
    const groupRows = [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([g, names]) => [g, String(names.length), names.join(",")].map((text) => cell(text, LS_CELL_WIDTH)));
    out += "\n" + table(["GROUP", "SIZE", "MEMBERS"], groupRows);
  }
  process.stdout.write(out);
}

/** Rows under a header, each column as wide as its widest cell, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  let out = "";
  for (const row of [header, ...rows]) out += row.map((text, i) => text.padEnd(widths[i]!)).join("  ").trimEnd() + "\n";
  return out;
}

function transport(s: ServiceInfo): string {
  if (s.addr.family === "local") return "unix";
  return (s.type === "dgram" ? "udp" : "tcp") + (s.addr.family === "inet6" ? "6" : "");
}

export interface CallFlags {
  /** The call's deadline (ms). */
  timeout?: number;
  /** Print a failed call's remote stack after its code and message. */
  verbose?: boolean;
}

/** A failed call prints its code and message (a handler's `LuanetError("bad_credentials", ...)`
 * is an answer, not a crash); the stack the remote handler threw from only with --verbose. */
export function* callTool(service: string, func: string, json: string | undefined, flags: CallFlags) {
  const args = parseJson(json, "the arguments");
  if (args === BAD_JSON) return;
  const [ret, err] = yield* RPCCall(runtime.root, service, func, args, flags.timeout === undefined ? undefined : { timeout: flags.timeout });
  if (err !== null) return fail(err.code, err.message + (flags.verbose === true && err.remoteStack ? `\n${err.remoteStack}` : ""));
  process.stdout.write(`${printableJson(JSON.stringify(ret, null, 2) ?? "undefined")}\n`);
}

export function* sendTool(service: string, json: string) {
  const msg = parseJson(json, "the message");
  if (msg === BAD_JSON) return;
  // To a group, the message and the call behind it go to the same member: one key for both.
  const err = yield* SendMsg(runtime.root, service, msg, SAME_MEMBER);
  if (err !== null) return fail(err.code, err.message);
  // SendMsg returns once the message is handed to the connection; a tool that exits then cannot
  // tell a refusal (the peer wants a secret this process lacks) from delivery. A call behind it on
  // the same connection settles that: frames are read in order, so any answer, "no such
  // function" included, means the message was read.
  const [, confirm] = yield* RPCCall(runtime.root, service, CONFIRM, null, SAME_MEMBER);
  if (confirm !== null && confirm.code !== "no_such_function") return fail(confirm.code, `the message may not have arrived: ${confirm.message}`);
}

const SAME_MEMBER = Object.freeze({ key: "luanet send" });

/** A function no service has: calling it only confirms that what was sent before it was read. */
const CONFIRM = "luanet send: confirm";

/**
 * `luanet reload <service|group>`: hot reload a service, or a group's members one at a time (the
 * next once the one before has answered), through the reserved function `luanet.reload`. One
 * line per member; a failure (the new code's error, with its file and line) stops there, the
 * members after it keep their code, and the exit code is 1.
 */
export function* reloadTool(target: string, flags: { timeout?: number }) {
  const opts = flags.timeout === undefined ? undefined : { timeout: flags.timeout };
  const [members, err] = yield* GetGroupMembers(runtime.root, target, opts);
  if (err !== null) return fail(err.code, err.message);
  const names = members.length > 0 ? members.sort() : [target];
  for (const [i, name] of names.entries()) {
    const [ret, err] = yield* RPCCall<ReloadResult>(runtime.root, name, RELOAD_FUNCTION, null, opts);
    if (err !== null) {
      fail(err.code, `${name}: ${err.message}`);
      const rest = names.slice(i + 1);
      if (rest.length > 0) process.stderr.write(`luanet: not reloaded: ${rest.map((n) => printable(n)).join(", ")} (${printable(name)} failed)\n`);
      return;
    }
    process.stdout.write(`${printable(name)}: reloaded, generation ${ret.generation}, ${ret.files.length} files, ${ret.ms} ms\n`);
  }
}
