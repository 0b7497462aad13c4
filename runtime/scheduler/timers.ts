/**
 * Task deadlines without a Node timer per task.
 *
 * As in Node's own timers, there is one list per distinct duration: a task added to a list expires
 * no earlier than every task before it, so adding and removing are O(1) and only list heads are
 * compared. One Node timer is armed for the earliest head. A task with a timer points at its node
 * (`task._timer`); the node lives only while the timer is set, so tasks without one stay small.
 *
 * @internal
 */
import { expire } from "./resume.js";
import type { Task } from "./task.js";

export class TimerNode {
  prev: TimerNode | null;
  next: TimerNode | null = null;
  constructor(readonly task: Task, readonly expiry: number, readonly list: TimerList) {
    this.prev = list.tail;
  }
}

class TimerList {
  head: TimerNode | null = null;
  tail: TimerNode | null = null;
  constructor(readonly ms: number) {}
}

const MAX_NODE_DELAY = 2 ** 31 - 1;
/** The timers' own state, together: the lists, and the one Node timer. */
const state = {
  lists: new Map<number, TimerList>(),
  handle: null as NodeJS.Timeout | null,
  /** When the Node timer is armed for; Infinity when it is not. */
  armedAt: Infinity,
  /** Timers set and not yet cleared: at zero the Node timer is unref'd, so it holds no process
   * open, but stays armed: a call that gets its reply before its deadline then costs no Node
   * timer at all (clearing and arming one per call was most of a lone caller's timer cost). */
  count: 0,
};

/** Wake `task` after `ms` milliseconds (see `expire` in resume.ts), unless cleared first; `now`:
 * performance.now(), if the caller has just read it. */
export function setTimer(task: Task, ms: number, now = performance.now()): void {
  // Lists are keyed by duration: whole ms (timers fire on whole ms anyway, and rounding up never
  // fires early), or every fraction a deadline's arithmetic gives would make a list of its own.
  ms = Math.ceil(ms);
  if (task._timer !== null) clearTimer(task);
  let list = state.lists.get(ms);
  if (list === undefined) {
    list = new TimerList(ms);
    state.lists.set(ms, list);
  }
  const node = new TimerNode(task, now + ms, list);
  if (list.tail !== null) list.tail.next = node;
  else list.head = node;
  list.tail = node;
  task._timer = node;
  if (state.count++ === 0 && state.handle !== null) state.handle.ref();
  if (node.expiry < state.armedAt) arm(node.expiry, now);
}

/** How many timer lists there are (one per duration in use): for tests. @internal */
export const timerLists = (): number => state.lists.size;

/** Remove the task's timer. Empty lists are dropped at the next firing, not here, so a duration
 * used over and over keeps its list; with no timer left, the Node timer is unref'd. */
export function clearTimer(task: Task): void {
  const node = task._timer;
  if (node === null) return;
  task._timer = null;
  const list = node.list;
  if (node.prev !== null) node.prev.next = node.next;
  else list.head = node.next;
  if (node.next !== null) node.next.prev = node.prev;
  else list.tail = node.prev;
  if (--state.count === 0 && state.handle !== null) state.handle.unref();
}

function arm(at: number, now: number): void {
  if (state.handle !== null) clearTimeout(state.handle);
  state.armedAt = at;
  state.handle = setTimeout(fire, Math.min(MAX_NODE_DELAY, Math.max(1, Math.ceil(at - now))));
}

function fire(): void {
  state.handle = null;
  state.armedAt = Infinity;
  const now = performance.now();
  let next = Infinity;
  const due: TimerNode[] = [];
  let listsDue = 0;
  for (const [ms, list] of state.lists) {
    const before = due.length;
    let node: TimerNode | null;
    while ((node = list.head) !== null && node.expiry <= now) {
      clearTimer(node.task);
      due.push(node);
    }
    if (due.length > before) listsDue++;
    if (list.head === null) state.lists.delete(ms);
    else if (list.head.expiry < next) next = list.head.expiry;
  }
  // A late firing can find several lists due: wake across them in deadline order.
  if (listsDue > 1) due.sort((a, b) => a.expiry - b.expiry);
  for (const node of due) expire(node.task);
  if (next !== Infinity && next < state.armedAt) arm(next, performance.now());
}
