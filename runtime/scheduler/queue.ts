/**
 * The run queue: one queue, drained in order, never re-entered.
 *
 * Everything that makes a task runnable (spawn, a timer, a reply, a wake-up) calls `enqueue`,
 * which only appends the task and makes sure a drain is coming (a microtask). `drain` steps tasks
 * in FIFO order; a task that yields goes to the back, so nobody starves. After a slice of a few
 * milliseconds the drain stops and continues after Node's I/O poll (setImmediate), so a task
 * looping on `Sche.Yield()` cannot starve the network either.
 *
 * @internal
 */
import { loopClock } from "./clock.js";
import { step } from "./drive.js";
import { addLive } from "./live.js";
import { READY } from "./states.js";
import type { Task } from "./task.js";

const SLICE_MS = 5;

/** The loop's own state. `head` is the next task to step: the drain clears slots as it goes and
 * compacts the array only now and then, so taking a task off the front is never a shift. */
const run = {
  queue: [] as (Task | undefined)[],
  head: 0,
  /** A drain is queued (a microtask or, after a full slice, a setImmediate). */
  scheduled: false,
  /** A drain is running: an enqueue from inside a step only appends. */
  draining: false,
};

/** Count a new task as live and queue its first step. */
export function launch(task: Task): void {
  addLive(task);
  enqueue(task);
}

/** Make a task runnable: it runs after every task already queued. */
export function enqueue(task: Task): void {
  task._status = READY;
  run.queue.push(task);
  if (!run.scheduled && !run.draining) {
    run.scheduled = true;
    queueMicrotask(drain);
  }
}

function drain(): void {
  run.scheduled = false;
  if (run.draining) return;
  run.draining = true;
  const queue = run.queue;
  const until = (loopClock.now = performance.now()) + SLICE_MS;
  let steps = 0;
  try {
    while (run.head < queue.length) {
      const task = queue[run.head]!;
      queue[run.head++] = undefined;
      step(task);
      if ((++steps & 63) === 0) {
        if ((loopClock.now = performance.now()) >= until) break;
        if (run.head > 4096 && run.head * 2 > queue.length) {
          queue.copyWithin(0, run.head);
          queue.length -= run.head;
          run.head = 0;
        }
      }
    }
  } finally {
    run.draining = false;
    if (run.head >= queue.length) {
      queue.length = 0;
      run.head = 0;
    } else if (!run.scheduled) {
      run.scheduled = true;
      setImmediate(drain);
    }
  }
}
