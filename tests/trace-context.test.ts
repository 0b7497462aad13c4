/**
 * The trace context in the CALL envelope, in-process: what the decoder takes (4 to 7 items, the
 * trace fields texts) and refuses, the W3C traceparent text both ways, and how luanet tells
 * whether an OpenTelemetry SDK is registered.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { trace, TraceFlags } from "@opentelemetry/api";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { decode, encode, ProtocolError } from "../runtime/wire/envelope.ts";
import { formatTraceparent, parseTraceparent } from "../runtime/tracing/traceparent.ts";
import { REREAD, Tracing, tracingFrom } from "../runtime/tracing/tracing.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

test("a CALL of 4, 5, 6 or 7 items decodes; the 6th and 7th are the trace context", () => {
  for (const call of [
    [2, 1, "F", null],
    [2, 1, "F", null, 100],
    [2, 1, "F", { a: 1 }, 100, TRACEPARENT],
    [2, 1, "F", { a: 1 }, 100, TRACEPARENT, "vendor=x"],
  ]) assert.deepEqual(decode(encode(call as never)), call);
});

test("a CALL whose trace fields are not text, or with more items, is a ProtocolError", () => {
  for (const call of [
    [2, 1, "F", null, 100, 7],
    [2, 1, "F", null, 100, null],
    [2, 1, "F", null, 100, Buffer.from(TRACEPARENT)],
    [2, 1, "F", null, 100, [TRACEPARENT]],
    [2, 1, "F", null, 100, TRACEPARENT, 1],
    [2, 1, "F", null, null, TRACEPARENT], // timeoutMs must come first
    [2, 1, "F", null, 100, TRACEPARENT, "vendor=x", "more"],
  ]) assert.throws(() => decode(encode(call as never)), (e: unknown) => e instanceof ProtocolError && /malformed envelope of type 2/.test(e.message), JSON.stringify(call));
});

test("traceparent: formatted as W3C says, parsed back; anything else is no parent, never an error", () => {
  const context = { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED };
  assert.equal(formatTraceparent(context), TRACEPARENT);
  assert.equal(formatTraceparent({ ...context, traceFlags: TraceFlags.NONE }), `00-${TRACE_ID}-${SPAN_ID}-00`);
  const parsed = parseTraceparent(TRACEPARENT, "vendor=x,other=y");
  assert.deepEqual({ ...parsed, traceState: undefined }, { ...context, isRemote: true, traceState: undefined });
  assert.equal(parsed!.traceState!.get("other"), "y");
  // A later version may add fields after the four it shares with 00.
  assert.equal(parseTraceparent(`01-${TRACE_ID}-${SPAN_ID}-01-extra`, undefined)?.spanId, SPAN_ID);
  for (const bad of [
    "", "garbage", `00-${TRACE_ID}-${SPAN_ID}-01-extra`, `ff-${TRACE_ID}-${SPAN_ID}-01`,
    `00-${"0".repeat(32)}-${SPAN_ID}-01`, `00-${TRACE_ID}-${"0".repeat(16)}-01`, TRACEPARENT.toUpperCase(),
    `00-${TRACE_ID}-${SPAN_ID}-1`, `01-${TRACE_ID}-${SPAN_ID}-01-${"x".repeat(300)}`,
  ]) assert.equal(parseTraceparent(bad, undefined), null, bad);
});

test("tracing is active only with an SDK registered, and never with LUANET_TRACING=off", () => {
  assert.equal(tracingFrom({}), true);
  for (const off of ["off", "0", "false"]) assert.equal(tracingFrom({ LUANET_TRACING: off }), false);
  const on = new Tracing(true), off = new Tracing(false);
  assert.equal(on.active(), false, "no SDK registered");
  assert.equal(on.server(null, "S", "F"), null);
  trace.setGlobalTracerProvider(new BasicTracerProvider());
  try {
    assert.equal(on.active(), true);
    assert.equal(off.active(), false);
    const span = on.server(null, "S", "F")!;
    assert.ok(span.isRecording());
    const fields = on.fields(on.within(null, span))!;
    assert.equal(fields.length, 1);
    assert.equal(fields[0], formatTraceparent(span.spanContext()));
    const parent = on.remote(fields[0], undefined)!;
    assert.equal(trace.getSpanContext(parent)?.spanId, span.spanContext().spanId);
    assert.equal(on.remote("not a traceparent", undefined), null);
    span.end();
  } finally {
    trace.disable();
  }
  // trace.disable() makes the API a new global provider: active() looks it up again within REREAD calls.
  let seen = 0;
  while (on.active() && seen <= REREAD) seen++;
  assert.ok(seen < REREAD, "the SDK is gone again, seen within REREAD calls");
  assert.equal(on.active(), false);
});
