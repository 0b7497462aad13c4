/**
 * Where tasks were spawned, recorded only while asked for (`luanet tasks --stacks`): capturing a
 * stack costs about a microsecond, too much for every spawn, so it is on for a while after each
 * request and off otherwise. Kept in a WeakMap: a task's stack goes with the task.
 * @internal
 */
import type { Task } from "./task.js";

const recorder = {
  /** performance.now() until which spawns are recorded; 0: not recording. */
  until: 0,
  stacks: new WeakMap<Task, string>(),
};

/** Record where tasks are spawned for the next `ms`. */
export function recordSpawnStacks(ms: number): void {
  recorder.until = Math.max(recorder.until, performance.now() + ms);
}

export const recordingSpawnStacks = (): boolean => recorder.until !== 0 && performance.now() < recorder.until;

/** Called for every new task: cheap (one load) unless recording. */
export function noteSpawn(task: Task): void {
  if (recorder.until === 0) return;
  if (performance.now() >= recorder.until) {
    recorder.until = 0;
    return;
  }
  const stack = new Error().stack ?? "";
  // Drop the message line and the frames of the scheduler itself (this file, task.ts, spawn.ts).
  const frames = stack.split("\n").slice(1).filter((line) => !/[/\\]scheduler[/\\](spawn-stacks|task|spawn)\.[jt]s:/.test(line));
  recorder.stacks.set(task, frames.map((line) => line.trim()).join("\n"));
}

/** Where `task` was spawned, if it was spawned while recording. */
export const spawnStackOf = (task: Task): string | undefined => recorder.stacks.get(task);
