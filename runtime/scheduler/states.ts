/**
 * The small integers a task's internal fields hold. They live apart from the Task class so that
 * the loop's files can use them without importing task.ts (which imports the loop).
 *
 * @internal
 */

/** `task._status`. A task is done when its status is DONE or more, and the status then says how:
 * OK, FAILED or HALTED (one field for both, so that a task stays small). */
export const READY = 0, RUNNING = 1, SUSPENDED = 2, DONE = 3;
/** `task._resumeMode`: how the next step resumes the generator. */
export const NEXT = 0, THROW = 1, RETURN = 2;
/** `task._status` once it is done: how it ended. */
export const OK = 3, FAILED = 4, HALTED = 5;
/** `task._halting`. */
export const HALT_NONE = 0, HALT_REQUESTED = 1, HALT_DELIVERED = 2;
