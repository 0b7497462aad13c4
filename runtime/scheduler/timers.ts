/**
 * Task deadlines without a Node timer per task.
 *
 * As in Node's own timers, there is one list per distinct duration: a task added to a list expires
 * no earlier than every task before it, so adding and removing are O(1) and only list heads are
 * compared. One Node timer is armed for the earliest head. A task is its own list node (fields
 * `_expiry`, `_tPrev`, `_tNext`, `_tList`), so a sleeping task costs no extra allocation.
 *
 * @internal
 */
import type { Task } from "./task.js";

export class TimerList {
  head: Task | null = null;
  tail: Task | null = null;
  constructor(readonly ms: number) {}
}

const MAX_NODE_DELAY = 2 ** 31 - 1;
const lists = new Map<number, TimerList>();
let handle: NodeJS.Timeout | null = null;
let armedAt = Infinity;
let onExpire: (task: Task) => void = () => {};

/** The loop tells the timers what to do with a task whose time ran out. */
export function setExpiryHandler(handler: (task: Task) => void): void {
  onExpire = handler;
}

/** Wake `task` through the expiry handler after `ms` milliseconds, unless cleared first. */
export function setTimer(task: Task, ms: number): void {
  if (task._tList !== null) clearTimer(task);
  const now = performance.now();
  const expiry = now + ms;
  let list = lists.get(ms);
  if (list === undefined) {
    list = new TimerList(ms);
    lists.set(ms, list);
  }
  task._expiry = expiry;
  task._tList = list;
  task._tPrev = list.tail;
  task._tNext = null;
  if (list.tail !== null) list.tail._tNext = task;
  else list.head = task;
  list.tail = task;
  if (expiry < armedAt) arm(expiry, now);
}

/** Remove the task's timer. Empty lists are dropped at the next firing, not here, so a duration
 * used over and over keeps its list. */
export function clearTimer(task: Task): void {
  const list = task._tList;
  if (list === null) return;
  if (task._tPrev !== null) task._tPrev._tNext = task._tNext;
  else list.head = task._tNext;
  if (task._tNext !== null) task._tNext._tPrev = task._tPrev;
  else list.tail = task._tPrev;
  task._tList = task._tPrev = task._tNext = null;
}

/** How many tasks wait on a timer (for tests and dumps). */
export function pendingTimers(): number {
  let n = 0;
  for (const list of lists.values()) for (let t = list.head; t !== null; t = t._tNext) n++;
  return n;
}

function arm(at: number, now: number): void {
  if (handle !== null) clearTimeout(handle);
  armedAt = at;
  handle = setTimeout(fire, Math.min(MAX_NODE_DELAY, Math.max(1, Math.ceil(at - now))));
}

function fire(): void {
  handle = null;
  armedAt = Infinity;
  const now = performance.now();
  let next = Infinity;
  const due: Task[] = [];
  let listsDue = 0;
  for (const [ms, list] of lists) {
    const before = due.length;
    let task: Task | null;
    while ((task = list.head) !== null && task._expiry <= now) {
      clearTimer(task);
      due.push(task);
    }
    if (due.length > before) listsDue++;
    if (list.head === null) lists.delete(ms);
    else if (list.head._expiry < next) next = list.head._expiry;
  }
  // A late firing can find several lists due: wake across them in deadline order.
  if (listsDue > 1) due.sort((a, b) => a._expiry - b._expiry);
  for (const task of due) onExpire(task);
  if (next !== Infinity && next < armedAt) arm(next, performance.now());
}
