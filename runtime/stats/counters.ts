/**
 * A service's always-on counters: per function it serves, per peer it talks to, and for calls it
 * could not route. They are plain numbers bumped on the call path (dispatch.ts, call.ts,
 * conn.ts); everything derived (rates, percentiles, the task census) is computed only when
 * someone asks (snapshot.ts). `LUANET_STATS=off` turns the per-call part off for the process
 * (the bench's reference); the snapshot then says `counting: false`.
 *
 * Every table here is bounded: a function entry exists only for a function the service has
 * registered, a function keeps at most MAX_CODES codes (the last of them "other", where the
 * rest count), and at most MAX_PEERS peers (the last OTHER_PEERS), so a hostile peer
 * inventing names or codes cannot grow them.
 * @internal
 */
import { Window } from "./histogram.js";

export const MAX_CODES = 32;
export const MAX_PEERS = 1000;
/** Where peers past MAX_PEERS, and processes with no service name, are counted. */
export const OTHER_PEERS = "(others)";
export const UNNAMED_PEER = "(unnamed)";

/** True unless LUANET_STATS is "off", "0" or "false". */
export function countingFrom(env: NodeJS.ProcessEnv): boolean {
  const v = env.LUANET_STATS;
  return !(v === "off" || v === "0" || v === "false");
}

/**
 * A busy function's calls are timed one in SAMPLE_EVERY: a clock read costs 70 to 90 ns on the
 * virtual machines luanet was measured on, two a call, and a call between two services of one
 * process costs about 1 us. A function is busy while it gets more than BUSY_PER_SECOND calls a
 * second (checked every CHECK_MS or so, on a call that is timed); each timed call then stands for
 * SAMPLE_EVERY in the histogram, so its counts stay about the number of calls. Calls and errors
 * are always counted exactly; the percentiles of a busy function are those of a uniform sample
 * of at least BUSY_PER_SECOND / SAMPLE_EVERY calls a second, and its max the sample's.
 */
export const SAMPLE_EVERY = 8;
export const BUSY_PER_SECOND = 2000;
export const CHECK_MS = 100;
/** What start() answers for a call it does not time. */
export const UNTIMED = 0;

export class FuncCounters {
  calls = 0;
  inFlight = 0;
  readonly errors = new Map<string, number>();
  readonly latency = new Window();
  private busy = false;
  /** When the rate was last checked, and the calls then. */
  private markTime = -Infinity;
  private markCalls = 0;
  constructor(readonly name: string) {}

  /** A call began (it is counted in func()): what to hand done() when it is answered. That is
   * performance.now() for a call timed alone, its negation for one that stands for SAMPLE_EVERY,
   * and UNTIMED for one not timed (performance.now() is > 0 once a process runs code). */
  start(): number {
    if (this.busy && this.calls % SAMPLE_EVERY !== 0) return UNTIMED;
    const now = performance.now();
    const since = now - this.markTime;
    if (since >= CHECK_MS) {
      this.busy = this.calls - this.markCalls > (BUSY_PER_SECOND * since) / 1000;
      this.markTime = now;
      this.markCalls = this.calls;
    }
    return this.busy ? -now : now;
  }

  /** The call start() answered `started` for was answered: `code` null for a result. */
  done(started: number, code: string | null): void {
    this.inFlight--;
    if (code !== null) this.error(code);
    if (started === UNTIMED) return;
    const now = performance.now();
    const weight = started < 0 ? SAMPLE_EVERY : 1;
    this.latency.record(Math.round((now - Math.abs(started)) * 1000), now, weight);
  }

  error(code: string): void {
    const errors = this.errors;
    const n = errors.get(code);
    if (n !== undefined) errors.set(code, n + 1);
    else errors.set(errors.size < MAX_CODES - 1 ? code : "other", (errors.get("other") ?? 0) + 1);
  }
}

export class PeerCounters {
  /** Calls this service made to the peer, and calls the peer made to it. */
  callsOut = 0;
  callsIn = 0;
  msgsOut = 0;
  msgsIn = 0;
  /** Bytes of its connections that have closed (those open are read from their links). */
  bytesIn = 0;
  bytesOut = 0;
  /** Connections this service opened to the peer. */
  connects = 0;
  constructor(readonly name: string) {}
}

export class ServiceCounters {
  readonly funcs = new Map<string, FuncCounters>();
  readonly peers = new Map<string, PeerCounters>();
  /** Calls to functions it does not have (answered no_such_function). */
  unknownCalls = 0;

  constructor(readonly counting: boolean) {}

  /** The counters of function `name`, which the service has (null when not counting). */
  func(name: string): FuncCounters | null {
    if (!this.counting) return null;
    let f = this.funcs.get(name);
    if (f === undefined) this.funcs.set(name, (f = new FuncCounters(name)));
    f.calls++;
    f.inFlight++;
    return f;
  }

  /** The counters of peer `name` (null: a process with no service). Counted even when not
   * counting calls: a peer entry is made once per connection, not per call. */
  peer(name: string | null): PeerCounters {
    const key = name ?? UNNAMED_PEER;
    const known = this.peers.get(key);
    if (known !== undefined) return known;
    const k = this.peers.size < MAX_PEERS - 1 ? key : OTHER_PEERS;
    let p = this.peers.get(k);
    if (p === undefined) this.peers.set(k, (p = new PeerCounters(k)));
    return p;
  }
}
