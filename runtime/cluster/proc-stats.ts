/**
 * CPU and memory of a process of this machine, for `luanet ps`, read from Linux's /proc (no
 * cooperation from the process, so a busy or adopted one is measured too). Elsewhere: null.
 * @internal
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat's times: 100 on every Linux luanet runs on (USER_HZ). */
export const TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat after the command name (field 3 is [0]); throws if it cannot be read. */
export function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (2nd field) is in parentheses and may hold spaces: count after the last ')'.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

export interface Usage {
  /** Percent of one core since the previous sample (null for the first). */
  cpu: number | null;
  /** Resident memory in bytes. */
  rss: number;
}

/** Samples processes, remembering each one's last CPU time to give a rate. */
export class ProcStats {
  private readonly last = new Map<number, { ticks: number; at: number }>();

  sample(pid: number, now = performance.now()): Usage | null {
    let ticks: number;
    let rss: number;
    try {
      const fields = statFields(pid);
      ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      this.last.delete(pid);
      return null;
    }
    const before = this.last.get(pid);
    this.last.set(pid, { ticks, at: now });
    const cpu = before === undefined || now <= before.at ? null : ((ticks - before.ticks) / TICKS_PER_SECOND) / ((now - before.at) / 1000) * 100;
    return { cpu, rss };
  }

  /** Forget processes no longer watched. */
  keep(pids: ReadonlySet<number>): void {
    for (const pid of this.last.keys()) if (!pids.has(pid)) this.last.delete(pid);
  }
}
