/**
 * The runner's side of report.ts: a soak process (`node --expose-gc bin/luanet.js ...`, started
 * through tools/procs.ts) whose stdout is read as JSON lines, each timed when the runner read it.
 */
import type { Child, ProcessGroup } from "../tools/procs.ts";

/** One line a script printed, with when the runner read it (ms since the run started). */
export type Line = { type: string; t: number } & Record<string, unknown>;

export interface Script extends Child {
  readonly lines: Line[];
  /** The last line of this type, if any. */
  last(type: string): Line | undefined;
  /** Wait for a line of this type (one printed after `after` lines), at most `ms`. */
  waitLine(type: string, ms: number, after?: number): Promise<Line>;
}

/** Start `luanet ...args` with `env` added; `label` names it in messages; `t0` is the run's start. */
export function startScript(group: ProcessGroup, label: string, args: string[], env: NodeJS.ProcessEnv, t0: number): Script {
  const lines: Line[] = [];
  const child = group.luanet(args, {
    nodeArgs: ["--expose-gc"], env, label,
    // The lines are kept parsed; of the text itself, only enough to quote in an error message.
    maxOutput: 64 * 1024,
    onLine: (text, stream) => {
      if (stream !== "stdout") return;
      try {
        const value = JSON.parse(text) as Record<string, unknown>;
        if (typeof value.type === "string") lines.push({ ...value, type: value.type, t: Date.now() - t0 });
      } catch {
        // not one of our lines: ignore
      }
    },
  });
  return Object.assign(child, {
    lines,
    last(type: string) {
      for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.type === type) return lines[i];
      return undefined;
    },
    waitLine(type: string, ms: number, after = 0) {
      return child.until(`a "${type}" line`, () => lines.slice(after).find((l) => l.type === type), ms);
    },
  });
}
