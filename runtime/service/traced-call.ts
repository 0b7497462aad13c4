/**
 * An RPCCall as a client span (tracing/tracing.ts): the span is the calling task's trace
 * context while the call runs, so the CALL carries it (call.ts) and a call to a service of this
 * process parents its handler's span with it (local-call.ts); then the task's own context is
 * back. Used only while an SDK is registered: otherwise RPCCall is the call itself.
 * @internal
 */
import type { Context } from "@opentelemetry/api";
import { thrown } from "../errors.js";
import { current } from "../scheduler/drive.js";
import type { Instruction, Operation } from "../scheduler/instruction.js";
import type { Tracing } from "../tracing/tracing.js";
import type { RPCResult } from "./sessions.js";

export function* tracedCall(tracing: Tracing, service: string, func: string, call: Operation<RPCResult>): Generator<Instruction, RPCResult, unknown> {
  const task = current;
  if (task === null) return yield* call; // which throws: RPCCall outside a task
  const parent = task._trace as Context | null;
  const span = tracing.client(parent, service, func);
  task._trace = tracing.within(parent, span);
  // The span ends however the call does: a result, an error thrown through it, or a halt.
  let code: string | null = "halted";
  let message = "the calling task was halted during the call";
  try {
    const result = yield* call;
    [code, message] = result[1] === null ? [null, ""] : [result[1].code, result[1].message];
    return result;
  } catch (error) {
    ({ code, message } = thrown(error));
    code ??= "_OTHER"; // OpenTelemetry's error.type for an error of no known kind
    throw error;
  } finally {
    task._trace = parent;
    tracing.end(span, code, message);
  }
}
