/**
 * What happens when an error escapes a task nobody joins: by default it is logged.
 *
 * @internal
 */
import { logThrown } from "../log.js";
import type { Task } from "./task.js";

export type FailureReporter = (task: Task, error: unknown) => void;

/** Called by `finish` for a failed task that had no joiner. */
export let reportFailure: FailureReporter = (task, error) => {
  logThrown(`${task} failed`, error); // a hostile value is a logged failure, not a crash
};

/** Replace what happens when an error escapes a task nobody joins; returns the previous handler
 * (the start module uses this for the root task). */
export function setFailureReporter(report: (task: Task, error: unknown) => void): (task: Task, error: unknown) => void {
  const previous = reportFailure;
  reportFailure = report;
  return previous;
}
