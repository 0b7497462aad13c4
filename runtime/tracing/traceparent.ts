/**
 * The W3C Trace Context text forms (https://www.w3.org/TR/trace-context/) that a traced CALL
 * carries (docs/protocol.md section 4): `traceparent`, "00-<trace id>-<span id>-<flags>" in
 * lower-case hex, and `tracestate`, the vendors' list, passed on as OpenTelemetry parses it.
 * @internal
 */
import { createTraceState, isSpanContextValid, type SpanContext } from "@opentelemetry/api";

/** version-traceid-spanid-flags, and what a later version may add after a "-". */
const TRACEPARENT = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/;
/** W3C: a traceparent is 55 characters in version 00; a longer one is refused before the regex. */
const MAX_TRACEPARENT = 256;
/** W3C: at most 32 list members; OpenTelemetry keeps at most 512 characters of it. */
const MAX_TRACESTATE = 512;

/** The traceparent text of `context`. */
export function formatTraceparent(context: SpanContext): string {
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/**
 * The remote span context a traceparent (and tracestate) names, or null when the text is not a
 * valid one: version ff, a version-00 text with more after it, an all-zero id, or not the form.
 * A caller's bad trace context costs the callee its parent, never the call.
 */
export function parseTraceparent(traceparent: string, tracestate: string | undefined): SpanContext | null {
  if (traceparent.length > MAX_TRACEPARENT) return null;
  const m = TRACEPARENT.exec(traceparent);
  if (m === null || m[1] === "ff" || (m[1] === "00" && m[5] !== undefined)) return null;
  const context: SpanContext = { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & 0xff, isRemote: true };
  if (!isSpanContextValid(context)) return null;
  if (tracestate !== undefined && tracestate.length > 0 && tracestate.length <= MAX_TRACESTATE) context.traceState = createTraceState(tracestate);
  return context;
}
