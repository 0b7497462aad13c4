/**
 * What the peer at the other end of an outgoing connection understands beyond the envelopes
 * every version-2 peer takes. It is asked once per connection, with the reserved function
 * `luanet.features`, before the first CALL that would use what it answers; a peer built before
 * it answers `no_such_function` (an ERROR: the connection stays up) and gets none of it. One
 * feature so far: "trace", the trace context after a CALL's timeoutMs (docs/protocol.md sections 4, 6a).
 *
 * Why a question on the connection rather than a field of the registration: a caller that dials
 * an address has no registration to read, and a name service built before this change keeps
 * only the registration fields it knows (registry/validate.ts), so the field would vanish there.
 * @internal
 */
import { TIMED_OUT } from "../scheduler/await-within.js";
import { Instruction } from "../scheduler/instruction.js";
import { resume } from "../scheduler/resume.js";
import { spawnNamed } from "../scheduler/spawn.js";
import type { Task } from "../scheduler/task.js";
import { setTimer } from "../scheduler/timers.js";
import { Call } from "./call.js";
import type { Conn } from "./conn.js";
import type { RPCResult } from "./sessions.js";

export const FEATURES_FUNCTION = "luanet.features";
export const TRACE_FEATURE = "trace";
/** What this luanet answers to luanet.features: every feature it takes. */
export const OWN_FEATURES: readonly string[] = Object.freeze([TRACE_FEATURE]);

/** How long the question may take: a luanet peer answers it at once (a plain handler). */
const ASK_MS = 5000;

export class PeerFeatures {
  /** Whether the peer takes a CALL's trace context; null until it has answered. */
  trace: boolean | null = null;
  private asked: Promise<void> | null = null;

  constructor(private readonly conn: Conn) {}

  /** Ask the peer (once per connection); resolves when `trace` is known. No answer, an error
   * or a connection that drops first all mean "no". */
  ask(): Promise<void> {
    return (this.asked ??= new Promise<void>((resolve) => {
      const features = this;
      const peer = this.conn.peer!;
      const task = spawnNamed(`${FEATURES_FUNCTION} ${peer.name}`, function* () {
        try {
          const [value, err] = (yield* new Call(peer, FEATURES_FUNCTION, null, Math.min(ASK_MS, peer.service.config.rpcTimeout))) as RPCResult;
          features.trace = err === null && Array.isArray(value) && value.includes(TRACE_FEATURE);
          if (err !== null) peer.service.log.debug(`${peer.name} does not say what it takes (${err.code}): its calls carry no trace context`);
        } finally {
          features.trace ??= false; // halted: the service stops
          resolve();
        }
      }, [], peer.service);
      task._trace = null; // the question itself is never traced
    }));
  }
}

/** A call waiting, at most `ms`, for its peer's answer to luanet.features before it is sent:
 * resumed with undefined, or TIMED_OUT. */
export class FeaturesWait extends Instruction {
  constructor(private readonly answered: Promise<void>, private readonly ms: number, readonly name: string) {
    super();
  }
  enter(task: Task): void {
    void this.answered.then(() => resume(task, this, undefined));
    setTimer(task, this.ms);
  }
  override timeout(task: Task): void {
    resume(task, this, TIMED_OUT);
  }
}
