/**
 * The small integers a task's internal fields hold. They live apart from the Task class so that
 * the loop's files can use them without importing task.ts (which imports the loop).
 *
 * @internal
 */

/** `task._status`. */
export const READY = 0, RUNNING = 1, SUSPENDED = 2, DONE = 3;
/** `task._resumeMode`: how the next step resumes the generator. */
export const NEXT = 0, THROW = 1, RETURN = 2;
/** `task._outcome`. */
export const PENDING = 0, OK = 1, FAILED = 2, HALTED = 3;
/** `task._halting`. */
export const HALT_NONE = 0, HALT_REQUESTED = 1, HALT_DELIVERED = 2;
