/**
 * The live set: every task spawned and not yet done, and who waits for it to empty.
 *
 * @internal
 */
import type { Task } from "./task.js";

/** Every task not yet done; each knows its index, so finishing is a swap-remove, never a hash. */
const live: Task[] = [];
const idleWaiters: (() => void)[] = [];

/** Count a new task as live. */
export function addLive(task: Task): void {
  task._liveIndex = live.push(task) - 1;
}

/** A task is done: it leaves the live set. */
export function removeLive(task: Task): void {
  const last = live.pop()!;
  if (last !== task) {
    live[task._liveIndex] = last;
    last._liveIndex = task._liveIndex;
  }
  task._liveIndex = -1;
}

/** If no task is left, resolve every `allDone`. Called last when a task finishes, after its
 * joiners are woken and its failure reported. */
export function wakeIdleWaiters(): void {
  if (live.length === 0 && idleWaiters.length > 0) {
    const waiters = idleWaiters.splice(0);
    for (const w of waiters) w();
  }
}

/** The tasks not yet done. */
export function liveTasks(): Task[] {
  return live.slice();
}

/** Resolves once every task is done. */
export function allDone(): Promise<void> {
  if (live.length === 0) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}
