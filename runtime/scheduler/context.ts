/**
 * What the running code runs as: a task's context (to the service layer, its service), which a
 * spawned task inherits from its spawner, or a context set for a call with `runAs`.
 *
 * @internal
 */
import { current } from "./drive.js";

const NO_OVERRIDE: unique symbol = Symbol("no override");
let override: unknown = NO_OVERRIDE;

/** What the running code runs as: the running task's context (see Task.context), or what
 * `runAs` set; null outside any task. */
export function currentContext(): unknown {
  return override !== NO_OVERRIDE ? override : current === null ? null : current.context;
}

/** Call `fn(a, b)` as `context` (a plain RPC handler runs as its service, inside the caller's
 * step). The arguments are passed, not closed over: no closure per call on the hot path. */
export function runAs<T, A = undefined, B = undefined>(context: unknown, fn: (a: A, b: B) => T, a?: A, b?: B): T {
  const previous = override;
  override = context;
  try {
    return fn(a as A, b as B);
  } finally {
    override = previous;
  }
}
