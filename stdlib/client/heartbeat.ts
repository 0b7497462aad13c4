/**
 * The client's side of the heartbeat (docs/protocol.md 13.3, step 4): a PING when nothing was
 * sent for heartbeatMs, so that the gate, which KICKs a session silent for 3 x heartbeatMs, hears
 * from an idle client; and the connection given up when nothing arrived for 3 x heartbeatMs (the
 * gate answers every PING, so a live gate is never silent that long). One timer, re-armed for
 * whichever is due first; sends and arrivals only note the time.
 */
import { MAX_TIMER_MS } from "./pending.js";

const now = (): number => performance.now();

export class Heartbeat {
  private lastSent = now();
  private lastReceived = now();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  /** `ping` sends a PING (and calls sent()); `silent` gives the connection up. */
  constructor(private readonly ms: number, private readonly ping: () => void, private readonly silent: () => void) {
    this.arm(ms);
  }

  sent(): void {
    this.lastSent = now();
  }

  received(): void {
    this.lastReceived = now();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(delay: number): void {
    this.timer = setTimeout(this.check, Math.min(Math.max(delay, 1), MAX_TIMER_MS));
    // The connection's socket keeps a Node process alive; this timer need not.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private readonly check = (): void => {
    this.timer = null;
    if (this.stopped) return;
    const t = now();
    if (t - this.lastReceived >= 3 * this.ms) {
      this.stop();
      this.silent();
      return;
    }
    if (t - this.lastSent >= this.ms) {
      this.ping();
      if (this.stopped) return;
    }
    this.arm(Math.min(this.lastSent + this.ms, this.lastReceived + 3 * this.ms) - now());
  };
}
