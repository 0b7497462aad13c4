/**
 * The processes an earlier `luanet up` of this host started, found by their environment: every
 * process it starts carries LUANET_UNIT (its unit's id), LUANET_HOST and LUANET_REGISTRY, which
 * Linux shows in /proc/<pid>/environ as they were at its start. So a new supervisor adopts what
 * the registry cannot show it: a process whose services registered no name (a bot, a worker).
 * A luanet process removes LUANET_UNIT from its own environment at start, so what its scripts
 * start in turn does not carry it. Elsewhere than Linux: nothing found (the registry still is).
 * @internal
 */
import { readdirSync, readFileSync } from "node:fs";
import { statFields, TICKS_PER_SECOND } from "./proc-stats.js";

/** A process found: its pid and when it started (ms since the epoch). */
export interface Found {
  pid: number;
  since: number;
}


/** Unit id -> the process running it, among this user's processes started for `host` and `registry`. */
export function scanUnits(host: string, registry: string): Map<string, Found> {
  const found = new Map<string, Found>();
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return found;
  }
  const boot = bootTime();
  for (const name of pids) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch {
      continue; // gone, or another user's
    }
    if (!environ.includes("LUANET_UNIT=")) continue;
    const env = new Map(environ.split("\0").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
    const unit = env.get("LUANET_UNIT");
    if (unit === undefined || env.get("LUANET_HOST") !== host || env.get("LUANET_REGISTRY") !== registry) continue;
    const since = startedAt(pid, boot);
    const other = found.get(unit);
    if (other === undefined || since < other.since) found.set(unit, { pid, since });
  }
  return found;
}

function bootTime(): number {
  try {
    return Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1] ?? 0) * 1000;
  } catch {
    return 0;
  }
}

function startedAt(pid: number, boot: number): number {
  try {
    const ticks = Number(statFields(pid)[19]); // field 22, starttime
    return boot + (ticks / TICKS_PER_SECOND) * 1000;
  } catch {
    return Date.now();
  }
}
