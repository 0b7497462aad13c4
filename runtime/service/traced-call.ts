/**
 * An RPCCall as a client span (tracing/tracing.ts): the span is the calling task's trace
 * context while the call runs, so the CALL carries it (call.ts) and a call to a service of this
 * process parents its handler's span with it (local-call.ts); then the task's own context is
 * back. Used only while an SDK is registered: otherwise RPCCall is the call itself.
 * @internal
 */
import type { Context } from "@opentelemetry/api";
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
  let result: RPCResult | null = null;
  try {
    result = yield* call;
    return result;
  } finally {
    task._trace = parent;
    const err = result === null ? null : result[1];
    tracing.end(span, result === null ? "halted" : err === null ? null : err.code, err?.message ?? "the calling task was halted");
  }
}
