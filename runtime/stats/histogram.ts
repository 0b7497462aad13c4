/**
 * Latency histograms, cheap enough to record every call: a value in microseconds falls in one of
 * BUCKETS log-linear buckets (exact below 32 us, then 16 per power of two, so a percentile read
 * from them is within about 3% of the true value), counted in a Uint32Array. Recording is a few
 * integer operations and one increment; no allocation.
 *
 * A Window keeps the last WINDOW_SECONDS one-second histograms beside the one since start, so a
 * percentile can be read "over the last 10 s" as well as overall. Seconds are rotated lazily, by
 * the record that finds a new second, so an idle function costs nothing.
 * @internal
 */

/** Buckets 0..31 hold 0..31 us exactly; then 16 sub-buckets for each power of two from 2^5 to
 * 2^31 us (about 71 minutes, past any call's deadline). */
const EXACT = 32;
const SUB_BITS = 4;
const SUB = 1 << SUB_BITS;
export const BUCKETS = EXACT + (31 - 5) * SUB + SUB; // 2^5 .. 2^31

/** The bucket of `us` (an integer >= 0; 2^32 and more count in the last). */
export function bucketOf(us: number): number {
  if (us < EXACT) return us < 0 ? 0 : us;
  if (us > 0xffff_ffff) return BUCKETS - 1;
  const e = 31 - Math.clz32(us); // >= 5
  return EXACT + (e - 5) * SUB + ((us >>> (e - SUB_BITS)) & (SUB - 1));
}

/** The largest value (us) bucket `b` holds. */
export function bucketTop(b: number): number {
  if (b < EXACT) return b;
  const e = ((b - EXACT) >>> SUB_BITS) + 5;
  const sub = (b - EXACT) & (SUB - 1);
  return 2 ** e + (sub + 1) * 2 ** (e - SUB_BITS) - 1;
}

/** Percentiles and extremes of some calls, in milliseconds (what luanet.stats answers). */
export interface Latency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Sum of all the values (ms): mean = sum / count. */
  sum: number;
}

export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  /** Sum in microseconds. */
  sum = 0;
  max = 0;

  /** One value, or one that stands for `weight` calls (counters.ts samples busy functions). */
  record(us: number, weight = 1): void {
    this.counts[bucketOf(us)]! += weight;
    this.count += weight;
    this.sum += us * weight;
    if (us > this.max) this.max = us;
  }

  clear(): void {
    this.counts.fill(0);
    this.count = this.sum = this.max = 0;
  }

  add(other: Histogram): void {
    const c = this.counts;
    const o = other.counts;
    for (let i = 0; i < BUCKETS; i++) c[i]! += o[i]!;
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** The value (us) at quantile q (0..1): the top of the bucket it falls in, never above max. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketTop(i), this.max);
    }
    return this.max;
  }

  latency(): Latency {
    const ms = (us: number) => Math.round(us) / 1000;
    return { count: this.count, p50: ms(this.quantile(0.5)), p90: ms(this.quantile(0.9)), p99: ms(this.quantile(0.99)), max: ms(this.max), sum: ms(this.sum) };
  }
}

export const WINDOW_SECONDS = 10;

/** Since start, and over the last WINDOW_SECONDS seconds (the current one, partly gone, and the
 * WINDOW_SECONDS - 1 before it). A call is recorded once, in its second's histogram; a second is
 * added into `past` when the clock leaves it, so "since start" is `past` and the current second. */
export class Window {
  private readonly past = new Histogram();
  private readonly seconds: Histogram[] = [];
  /** The second (performance.now() / 1000, floored) each slot of `seconds` holds. */
  private readonly stamps = new Float64Array(WINDOW_SECONDS).fill(-1);
  private slot: Histogram | null = null;
  private second = -1;

  /** `us` at `now` (performance.now()), standing for `weight` calls. */
  record(us: number, now: number, weight = 1): void {
    const second = Math.floor(now / 1000);
    if (second !== this.second) this.rotate(second);
    this.slot!.record(us, weight);
  }

  private rotate(second: number): void {
    if (this.slot !== null) this.past.add(this.slot);
    const i = second % WINDOW_SECONDS;
    const slot = (this.seconds[i] ??= new Histogram());
    slot.clear(); // (a slot left behind was added into past when it was left)
    this.stamps[i] = second;
    this.slot = slot;
    this.second = second;
  }

  /** Every call since start, merged (made when asked). */
  get total(): Histogram {
    const merged = new Histogram();
    merged.add(this.past);
    if (this.slot !== null) merged.add(this.slot);
    return merged;
  }

  /** The calls of the last WINDOW_SECONDS seconds, merged. */
  recent(now: number): Histogram {
    const second = Math.floor(now / 1000);
    const merged = new Histogram();
    for (let i = 0; i < this.seconds.length; i++) {
      const slot = this.seconds[i];
      if (slot !== undefined && second - this.stamps[i]! < WINDOW_SECONDS) merged.add(slot);
    }
    return merged;
  }
}
