/**
 * One player's connection to a gate: a session. It has an id unique in the cluster
 * (`<random>.<n>@<gate>`, docs/protocol.md 13.3), the uid and data its AUTH bound, its requests
 * awaiting answers, its rate allowance and the channels it is in. The gate owns every session.
 * @internal
 */
import type { Place } from "../transport/admission.js";
import type { ClientLink } from "./client-link.js";

/** What a handler sees of the client that called it: `ctx.session`. */
export interface ClientSession {
  /** The session's id: give it to luanet.Push, luanet.Kick, a Channel. */
  readonly id: string;
  /** What the gate's auth function bound (null before auth, or on a gate without auth). */
  readonly uid: string | number | null;
  /** The gate service that holds the connection. */
  readonly gate: string;
  /** The rest of the auth function's result, and what luanet.Session.set added. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** The gate service's name in a session id: what follows the first "@", or null if there is none. */
export function gateOf(sessionId: string): string | null {
  const at = sessionId.indexOf("@");
  return at > 0 && at < sessionId.length - 1 ? sessionId.slice(at + 1) : null;
}

export class GateSession {
  uid: string | number | null = null;
  data: Record<string, unknown> = {};
  /** Whether requests are routed: after a successful AUTH, or at once on a gate without auth. */
  authed: boolean;
  /** Told to the session watchers as started (so its end is told too). */
  announced = false;
  authAttempts = 0;
  authPending = false;
  /** ids of its requests (AUTH included) awaiting answers. */
  readonly pending = new Set<number>();
  /** Its messages whose calls have not finished (they count against maxPending too). */
  messages = 0;
  /** The channels it is in (the gate's channel table holds it back). */
  readonly channels = new Set<string>();
  readonly opened = performance.now();
  /** performance.now() of the last frame from the client. */
  lastSeen = this.opened;
  /** Rate allowance: tokens left, refilled at rateLimit per second up to twice that. */
  tokens: number;
  private refilled = this.opened;
  ended = false;
  private info: ClientSession | null = null;

  constructor(readonly id: string, readonly gate: string, readonly link: ClientLink, readonly place: Place, needsAuth: boolean, private readonly rate: number) {
    this.authed = !needsAuth;
    this.tokens = 2 * rate;
  }

  /** Take one request's worth of allowance; false if there is none. */
  allow(now: number): boolean {
    this.tokens = Math.min(2 * this.rate, this.tokens + ((now - this.refilled) * this.rate) / 1000);
    this.refilled = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** What a call made for it carries (the same object until its data changes). */
  get public(): ClientSession {
    return (this.info ??= { id: this.id, uid: this.uid, gate: this.gate, data: this.data });
  }

  bind(uid: string | number, data: Record<string, unknown>): void {
    this.uid = uid;
    this.data = data;
    this.authed = true;
    this.info = null;
  }

  set(key: string, value: unknown): void {
    this.data = { ...this.data, [key]: value };
    this.info = null;
  }
}
