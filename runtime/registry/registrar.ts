/**
 * The loop that keeps one service registered, whichever registry holds it: claim the name, hold
 * it until something needs checking, claim again. While the registry cannot be reached it retries
 * with jittered backoff (one log line, not one per try); a refusal on the first claim ends it
 * (Register2Name fails); a refusal later (someone took the name while we were away) is retried
 * every `reclaimMs`, since the name is ours again once they leave. Each registry says how to
 * claim and how to hold (a `Claimer`).
 * @internal
 */
import { LuanetError, RPCError } from "../errors.js";
import { Block } from "../scheduler/block.js";
import type { Instruction, Operation } from "../scheduler/instruction.js";
import { Sleep } from "../scheduler/sleep.js";
import { CheckedSelf } from "./self.js";
import type { Registrant, ServiceInfo } from "./types.js";

export interface Claimer {
  /** "with the name service at 127.0.0.1:8010", "in etcd at ...": what the log lines say. */
  readonly registeredWhere: string;
  /** "at the name service at 127.0.0.1:8010", "in etcd at ...". */
  readonly lostWhere: string;
  /** The longest wait between tries while the registry cannot be reached. */
  readonly retryMaxMs: number;
  /** How often a name someone else took is claimed back. */
  readonly reclaimMs: number;
  /** Claim the name once: null when it is ours, the refusal (name_taken, bad_request)
   * otherwise; throws an RPCError when the registry cannot be reached. */
  claim(info: ServiceInfo): Operation<LuanetError | null>;
  /** Hold the registration until it needs claiming again. */
  hold(): Operation<void>;
  /** Something since the last claim is worth a log line when registered again (etcd: the lease was lost). */
  readonly eventful?: boolean;
}

export function* keepRegistered(self: Registrant, claimer: Claimer, onFirst: (error: LuanetError | null) => void): Generator<Instruction, void, unknown> {
  const checked = new CheckedSelf(self);
  let first = true;
  let complained = false;
  let refused = false;
  let delay = 100;
  for (;;) {
    const info = checked.next();
    if (info instanceof LuanetError) return onFirst(info);
    let refusal: LuanetError | null;
    try {
      refusal = yield* claimer.claim(info);
    } catch (error) {
      if (!(error instanceof RPCError)) throw error;
      if (!complained) self.log.warn(`cannot register ${self.name} ${claimer.registeredWhere} (${error.message}); retrying until it answers`);
      complained = true;
      // Soon after it is back: look-ups wait for registrations only briefly (the name service's RECOVERY_MS).
      yield* Sleep(delay * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, claimer.retryMaxMs);
      continue;
    }
    if (refusal !== null) {
      if (first) return onFirst(refusal);
      if (!refused) self.log.error(`${self.name} lost its name ${claimer.lostWhere} (${refusal.message}); trying again every ${claimer.reclaimMs} ms`);
      refused = true;
      yield* Block(claimer.reclaimMs);
      continue;
    }
    if (first || complained || refused || claimer.eventful === true) self.log.info(`${self.name} registered ${claimer.registeredWhere}${first ? "" : " again"}`);
    if (first) onFirst(null);
    self.claimed(info);
    first = complained = refused = false;
    delay = 100;
    yield* claimer.hold();
  }
}
