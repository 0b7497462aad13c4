/**
 * A service's live tasks, as `luanet.tasks` answers and `luanet tasks` prints them: each with
 * what it waits on (the name of the instruction it is suspended on: "RPCCall PlusServer.Plus",
 * "GetMsg", "sleep(100)", "block") and for how long; with `stacks`, where it was spawned, for the
 * tasks spawned while stacks were being recorded (spawn-stacks.ts).
 * @internal
 */
import { liveTasks } from "../scheduler/live.js";
import { recordingSpawnStacks, spawnStackOf } from "../scheduler/spawn-stacks.js";
import type { Task } from "../scheduler/task.js";

export interface TaskInfo {
  id: number;
  name: string;
  state: "ready" | "running" | "suspended";
  /** What it waits on, when suspended; null otherwise. */
  waitingOn: string | null;
  /** For how long (ms), when suspended. */
  waitingMs: number | null;
  /** Where it was spawned (with `stacks`, if recorded). */
  stack?: string;
}

/** What the service's tasks wait on, counted by kind (luanet.stats `tasks`). */
export interface TaskCensus {
  total: number;
  ready: number;
  running: number;
  suspended: number;
  /** Suspended tasks by what they wait on: rpc, getmsg, sleep, block, other. */
  waiting: { rpc: number; getmsg: number; sleep: number; block: number; other: number };
}

/** At most this many tasks in one dump by default, and at most MAX_LIMIT when asked. */
export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 20_000;

export function tasksOf(context: unknown): Task[] {
  return liveTasks().filter((task) => task.context === context);
}

function kindOf(waitingOn: string): keyof TaskCensus["waiting"] {
  if (waitingOn.startsWith("RPCCall ")) return "rpc";
  if (waitingOn === "GetMsg") return "getmsg";
  if (waitingOn.startsWith("sleep(")) return "sleep";
  if (waitingOn.startsWith("block")) return "block";
  return "other";
}

export function census(tasks: readonly Task[]): TaskCensus {
  const c: TaskCensus = { total: tasks.length, ready: 0, running: 0, suspended: 0, waiting: { rpc: 0, getmsg: 0, sleep: 0, block: 0, other: 0 } };
  for (const task of tasks) {
    const status = task.status;
    if (status === "done") continue;
    c[status]++;
    const on = task.waitingOn;
    if (on !== null) c.waiting[kindOf(on)]++;
  }
  return c;
}

export interface TaskDump {
  total: number;
  /** The longest-waiting first, at most `limit` of them. */
  tasks: TaskInfo[];
  /** Whether spawn stacks are being recorded now. */
  recordingStacks: boolean;
}

export function dump(tasks: readonly Task[], limit: number, stacks: boolean): TaskDump {
  const rows: TaskInfo[] = [];
  for (const task of tasks) {
    const status = task.status;
    if (status === "done") continue;
    const waitingOn = task.waitingOn;
    const row: TaskInfo = { id: task.id, name: task.name, state: status, waitingOn, waitingMs: waitingOn === null ? null : Math.round(task.waitingFor) };
    if (stacks) {
      const stack = spawnStackOf(task);
      if (stack !== undefined) row.stack = stack;
    }
    rows.push(row);
  }
  rows.sort((a, b) => (b.waitingMs ?? -1) - (a.waitingMs ?? -1) || a.id - b.id);
  return { total: rows.length, tasks: rows.slice(0, limit), recordingStacks: recordingSpawnStacks() };
}
