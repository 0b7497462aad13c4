/**
 * Tracing with OpenTelemetry (README, "Tracing"): when the process has an OpenTelemetry SDK
 * registered (`trace.setGlobalTracerProvider`), every RPCCall is a client span and every call of a
 * service's own handler a server span, named "<service>/<function>", with the rpc.* attributes.
 * The trace context travels in the CALL (docs/protocol.md section 4) and, inside a process, on the
 * task (Task._trace): a handler's task carries its server span, so the calls it makes are its
 * children, and so are those of the tasks it spawns.
 *
 * With no SDK registered the API's global provider hands out no-op tracers: `active()` sees that
 * with a few property reads, and nothing else here runs. `LUANET_TRACING=off` turns tracing off
 * whatever is registered. One object per process, owned by the Runtime.
 * @internal
 */
import {
  ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace,
  type Context, type Span, type Tracer, type TracerProvider,
} from "@opentelemetry/api";
import { formatTraceparent, parseTraceparent } from "./traceparent.js";

/** What a traced CALL carries after timeoutMs: traceparent, and tracestate when there is one. */
export type TraceFields = readonly [string] | readonly [string, string];

/** True unless LUANET_TRACING is "off", "0" or "false". */
export function tracingFrom(env: NodeJS.ProcessEnv): boolean {
  const v = env.LUANET_TRACING;
  return !(v === "off" || v === "0" || v === "false");
}

/** Set on a span whose call failed: the luanet error code (also as the general `error.type`). */
export const ERROR_CODE_ATTRIBUTE = "rpc.luanet.error_code";

/** Calls between two reads of the global tracer provider (active()). */
export const REREAD = 256;

export class Tracing {
  /** The provider the API hands out while nothing is registered: a proxy's delegate before one
   * is set (a NoopTracerProvider), taken from a proxy of our own. */
  private readonly noop: TracerProvider = new ProxyTracerProvider().getDelegate();
  /** The global provider active() last saw, and luanet's tracer from it (a new one if the
   * provider changes: trace.disable() and another SDK). */
  private provider: TracerProvider | null = null;
  private tracer: Tracer | null = null;
  private tracerOf: TracerProvider | null = null;
  private reads = 0;

  constructor(readonly enabled: boolean) {}

  /**
   * Whether calls are traced now: tracing is on and an SDK is registered. The API's global
   * provider is always a ProxyTracerProvider; with no SDK its delegate is the no-op provider.
   * (Cheaper than starting a span and asking whether it records: that allocates per call.)
   */
  active(): boolean {
    if (!this.enabled) return false;
    // The global provider is looked up (a versioned global registry read) every REREAD calls
    // only. Registering an SDK sets the delegate of the same proxy, seen at once; trace.disable()
    // makes a new proxy, seen within REREAD calls.
    if (this.provider === null || ++this.reads >= REREAD) {
      this.provider = trace.getTracerProvider();
      this.reads = 0;
    }
    const provider = this.provider as Partial<ProxyTracerProvider>;
    return provider.getDelegate === undefined || provider.getDelegate() !== this.noop;
  }

  private get spans(): Tracer {
    if (this.tracerOf !== this.provider || this.tracer === null) {
      this.tracerOf = this.provider ?? trace.getTracerProvider();
      this.tracer = this.tracerOf.getTracer("luanet"); // the instrumentation scope its spans are filed under
    }
    return this.tracer;
  }

  /** A client span for a call of `service`.`func` made in `parent` (null: a new trace). */
  client(parent: Context | null, service: string, func: string): Span {
    return this.start(SpanKind.CLIENT, parent, service, func);
  }

  /** A server span for a call of this process's `service`.`func`, or null when not traced. */
  server(parent: Context | null, service: string, func: string): Span | null {
    return this.active() ? this.start(SpanKind.SERVER, parent, service, func) : null;
  }

  private start(kind: SpanKind, parent: Context | null, service: string, func: string): Span {
    // An explicit parent always, ROOT_CONTEXT for none: the SDK's default, the context manager's
    // active context, is whatever async context the scheduler's drain happens to run in.
    return this.spans.startSpan(`${service}/${func}`, {
      kind,
      attributes: { "rpc.system": "luanet", "rpc.service": service, "rpc.method": func },
    }, parent ?? ROOT_CONTEXT);
  }

  /** The context in which `span` is the parent: what a task carries while it is the current span. */
  within(parent: Context | null, span: Span): Context {
    return trace.setSpan(parent ?? ROOT_CONTEXT, span);
  }

  /** End `span`, with the call's error code (null: it succeeded). */
  end(span: Span, code: string | null, message = ""): void {
    if (code !== null) {
      span.setAttribute(ERROR_CODE_ATTRIBUTE, code);
      span.setAttribute("error.type", code);
      span.setStatus({ code: SpanStatusCode.ERROR, message });
    }
    span.end();
  }

  /** What a CALL made in `context` carries (docs/protocol.md section 4), or null for none. */
  fields(context: Context): TraceFields | null {
    const span = trace.getSpanContext(context);
    if (span === undefined) return null;
    const traceparent = formatTraceparent(span);
    const state = span.traceState?.serialize();
    return state === undefined || state === "" ? [traceparent] : [traceparent, state];
  }

  /** The context a CALL's trace fields name, as the parent of its server span: null when this
   * process does not trace, or the text is not a valid traceparent. */
  remote(traceparent: string, tracestate: string | undefined): Context | null {
    if (!this.active()) return null;
    const span = parseTraceparent(traceparent, tracestate);
    return span === null ? null : trace.setSpanContext(ROOT_CONTEXT, span);
  }
}
