/**
 * What one process measures of itself for luanet.stats: event-loop delay (perf_hooks'
 * monitorEventLoopDelay, sampled by libuv, rotated every WINDOW_MS so it reads "over the last
 * 10 s"), memory and CPU time. One per process, owned by the Runtime.
 * @internal
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

const WINDOW_MS = 10_000;
const RESOLUTION_MS = 10;

export interface EventLoopDelay {
  /** Milliseconds the loop was late, over `seconds`. */
  p50: number;
  p99: number;
  max: number;
  mean: number;
  seconds: number;
}

export interface ProcessInfo {
  pid: number;
  /** Seconds since the process started. */
  uptime: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** CPU time used so far, in microseconds: a reader's two samples give CPU %. */
  cpuUser: number;
  cpuSystem: number;
  eventLoop: EventLoopDelay;
}

const ms = (ns: number): number => (Number.isFinite(ns) ? Math.round(ns / 1000) / 1000 : 0);

export class ProcessStats {
  private readonly delay: IntervalHistogram;
  private last: EventLoopDelay | null = null;
  private since = performance.now();
  private readonly rotation: NodeJS.Timeout;

  constructor() {
    this.delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.delay.enable();
    this.rotation = setInterval(() => this.rotate(), WINDOW_MS).unref();
  }

  private read(): EventLoopDelay {
    const h = this.delay;
    // The histogram counts the timer's own resolution as delay: take it off.
    const late = (ns: number) => Math.max(0, ms(ns) - RESOLUTION_MS);
    return { p50: late(h.percentile(50)), p99: late(h.percentile(99)), max: late(h.max), mean: late(h.mean), seconds: Math.round((performance.now() - this.since) / 100) / 10 };
  }

  private rotate(): void {
    this.last = this.read();
    this.delay.reset();
    this.since = performance.now();
  }

  info(): ProcessInfo {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    const current = this.read();
    return {
      pid: process.pid, uptime: Math.round(process.uptime() * 10) / 10,
      rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external,
      cpuUser: cpu.user, cpuSystem: cpu.system,
      // The last whole window, or what there is of the first.
      eventLoop: this.last ?? current,
    };
  }

  /** Stop measuring (a Runtime that ends before its process). */
  close(): void {
    clearInterval(this.rotation);
    this.delay.disable();
  }
}
