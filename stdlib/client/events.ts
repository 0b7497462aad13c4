/**
 * The Connection's events, typed, with no EventEmitter (the browser has none) and no EventTarget
 * (listeners take plain arguments). A listener that throws does not stop the others, nor the
 * client reading frames: its error is thrown again on a microtask, where it is reported as any
 * uncaught error is (the console in a browser; in Node, the process's uncaughtException).
 */
import { describe } from "./error.js";

export interface ConnectionEvents {
  /** A PUSH from the gate: `luanet.Push` to this session, or a channel's broadcast. */
  message: (route: string, msg: unknown) => void;
  /** The connection is closed for good: a KICK's reason, "disconnected", "heartbeat_timeout",
   * "protocol" (the gate sent what is not a frame), or "closed" (close()). With `reconnect`:
   * when it gave up, or for a reason reconnecting cannot cure. */
  close: (reason: string, message: string) => void;
  /** With `reconnect`: the connection dropped and reconnecting begins (the same reasons). */
  disconnect: (reason: string, message: string) => void;
  /** With `reconnect`: a new session is up, with this id. */
  reconnect: (session: string) => void;
}
export type EventName = keyof ConnectionEvents;

const NAMES: readonly EventName[] = ["message", "close", "disconnect", "reconnect"];

export class Listeners {
  private readonly sets = new Map<EventName, Set<(...args: never[]) => void>>(NAMES.map((n) => [n, new Set()]));

  add(event: unknown, listener: unknown, what: string): void {
    this.setOf(event, listener, what).add(listener as (...args: never[]) => void);
  }

  remove(event: unknown, listener: unknown, what: string): void {
    this.setOf(event, listener, what).delete(listener as (...args: never[]) => void);
  }

  count(event: EventName): number {
    return this.sets.get(event)!.size;
  }

  emit<E extends EventName>(event: E, ...args: Parameters<ConnectionEvents[E]>): void {
    for (const listener of [...this.sets.get(event)!]) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  private setOf(event: unknown, listener: unknown, what: string): Set<(...args: never[]) => void> {
    const set = typeof event === "string" ? this.sets.get(event as EventName) : undefined;
    if (set === undefined) throw new TypeError(`${what}(event, listener): event must be one of ${NAMES.map((n) => `"${n}"`).join(", ")}, got ${describe(event)}`);
    if (typeof listener !== "function") throw new TypeError(`${what}(event, listener): listener must be a function, got ${describe(listener)}`);
    return set;
  }
}
