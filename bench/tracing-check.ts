/**
 * What tracing costs a call with no OpenTelemetry SDK registered: the check each side makes per
 * call (tracing/tracing.ts `active()`, a look at the global provider's delegate), against the
 * other way to tell, starting a span and asking whether it records. Prints { value, reference }
 * in ns per check, the medians of 5 alternating rounds.
 */
import { ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import { Tracing } from "../dist/runtime/tracing/tracing.js";

const N = 2_000_000;
const tracing = new Tracing(true);
const tracer = trace.getTracer("luanet");
const options = { kind: SpanKind.CLIENT, attributes: { "rpc.system": "luanet", "rpc.service": "PlusServer", "rpc.method": "Plus" } };

/** ns per call of `check`, over N calls (what it answers is counted, so it cannot be left out). */
function time(check: () => boolean): number {
  let yes = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (check()) yes++;
  const ns = ((performance.now() - t0) * 1e6) / N;
  if (yes !== 0) throw new Error("an SDK is registered: nothing to measure");
  return ns;
}
const delegate = () => tracing.active();
const span = () => tracer.startSpan("PlusServer/Plus", options, ROOT_CONTEXT).isRecording();

time(delegate);
time(span);
const a: number[] = [], b: number[] = [];
for (let round = 0; round < 5; round++) {
  a.push(time(delegate));
  b.push(time(span));
}
const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!;
console.log(JSON.stringify({ value: median(a), reference: median(b) }));
