/**
 * Session ends as an event (luanet.OnSessionEnd): a service that subscribes joins the group
 * `luanet.session-watchers`, and every gate tells that group's members, in batches, which
 * sessions started (authenticated) and ended, and why (`luanet.sessions.event`). A gate that dies
 * tells nobody: so a watcher also keeps the sessions it heard of, by gate, and watches the group
 * `luanet.gates`; when a gate leaves it (its registration ended with its process), every session
 * the watcher knew there ends with reason `gate_lost`. A watcher that subscribes while gates run
 * asks each gate it first sees for its sessions (`luanet.gate.sessions`).
 * @internal
 */
import { describe, LuanetError } from "../errors.js";
import { settleValue } from "../scheduler/promise.js";
import { Sleep } from "../scheduler/sleep.js";
import { GetGroupMembers, JoinGroup, RPCCall } from "../service/api.js";
import type { Service } from "../service/service.js";
import { EVENT_FUNCTION, GATE_FUNCTIONS, GATES_GROUP, WATCHERS_GROUP } from "./names.js";

/** How often a watcher looks at the gates' group for gates that left (ms). */
const GATES_POLL_MS = 250;
/** A gate gone from the group this long has its sessions ended `gate_lost`: a gate that stops
 * in order tells its sessions' ends itself, and its last batch may arrive just after it left. */
const LOST_AFTER_MS = 1000;
/** How long a session ended as gate_lost is remembered (ms). */
const LOST_KEPT_MS = 60_000;

type Uid = string | number | null;

/** What a gate tells the watchers. */
export interface SessionEvents {
  gate: string;
  started: { id: string; uid: Uid }[];
  ended: { id: string; uid: Uid; reason: string }[];
}

/** What luanet.OnSessionEnd's function is given. */
export interface SessionEnd {
  readonly id: string;
  readonly uid: Uid;
  readonly gate: string;
  /** closed, kicked, heartbeat_timeout, too_slow, shutting_down, gate_lost... (docs/protocol.md 13.5) */
  readonly reason: string;
}

export type SessionEndHandler = (end: SessionEnd) => unknown;

const isUid = (u: unknown): boolean => u === null || typeof u === "string" || typeof u === "number";
const isEntry = (x: unknown): x is { id: string; uid: Uid } =>
  typeof x === "object" && x !== null && typeof (x as { id?: unknown }).id === "string" && isUid((x as { uid?: unknown }).uid);

export class SessionWatch {
  private readonly handlers: SessionEndHandler[] = [];
  /** The sessions heard of, by gate: id → uid. */
  private readonly known = new Map<string, Map<string, Uid>>();
  /** Gates not in the group any more, and since when (performance.now()). */
  private readonly missing = new Map<string, number>();
  /** Sessions ended here as gate_lost, and when: a late report of their end is not told again. */
  private readonly lost = new Map<string, number>();

  constructor(private readonly service: Service) {}

  subscribe(fn: SessionEndHandler): void {
    this.handlers.push(fn);
    if (this.handlers.length > 1) return;
    this.service.reserved.set(EVENT_FUNCTION, (args) => this.receive(args));
    this.service.whenRegistering(() => {
      void JoinGroup(this.service, WATCHERS_GROUP);
      const watch = this;
      this.service.spawn("session watch", function* () {
        for (;;) {
          yield* watch.poll();
          yield* Sleep(GATES_POLL_MS);
        }
      });
    });
  }

  private receive(args: unknown): null {
    const b = args as SessionEvents;
    if (typeof b !== "object" || b === null || typeof b.gate !== "string" || !Array.isArray(b.started) || !Array.isArray(b.ended) ||
      !b.started.every(isEntry) || !b.ended.every((e) => isEntry(e) && typeof (e as { reason?: unknown }).reason === "string")) {
      throw new LuanetError("bad_request", `${EVENT_FUNCTION} takes { gate, started: [{ id, uid }], ended: [{ id, uid, reason }] }, got ${describe(args)}`);
    }
    let sessions = this.known.get(b.gate);
    if (sessions === undefined) this.known.set(b.gate, (sessions = new Map()));
    for (const s of b.started) sessions.set(s.id, s.uid);
    for (const e of b.ended) {
      sessions.delete(e.id);
      if (this.lost.delete(e.id)) continue;
      this.fire({ id: e.id, uid: e.uid, gate: b.gate, reason: e.reason });
    }
    return null;
  }

  /** Compare the gates' group with the gates known: learn the new ones' sessions, end the lost ones'. */
  private *poll() {
    const [names, err] = yield* GetGroupMembers(this.service, GATES_GROUP);
    if (err !== null) return;
    const live = new Set(names);
    const now = performance.now();
    for (const [gate, sessions] of this.known) {
      if (live.has(gate)) {
        this.missing.delete(gate);
        continue;
      }
      const since = this.missing.get(gate);
      if (since === undefined) this.missing.set(gate, now);
      if (since === undefined || now - since < LOST_AFTER_MS) continue;
      this.known.delete(gate);
      this.missing.delete(gate);
      for (const [id, uid] of sessions) {
        this.lost.set(id, now);
        this.fire({ id, uid, gate, reason: "gate_lost" });
      }
    }
    for (const [id, when] of this.lost) if (now - when > LOST_KEPT_MS) this.lost.delete(id);
    for (const gate of live) {
      if (this.known.has(gate)) continue;
      const sessions = new Map<string, Uid>();
      this.known.set(gate, sessions);
      const [list] = yield* RPCCall(this.service, gate, GATE_FUNCTIONS.sessions, null);
      if (Array.isArray(list)) for (const s of list) if (isEntry(s) && !sessions.has(s.id)) sessions.set(s.id, s.uid);
    }
  }

  private fire(end: SessionEnd): void {
    for (const fn of this.handlers) {
      const service = this.service;
      service.spawn(`session end ${end.id}`, function* () {
        try {
          yield* settleValue(fn(end));
        } catch (error) {
          service.log.error(`luanet.OnSessionEnd's function threw for ${end.id}: ${(error as Error)?.message ?? describe(error)}`);
        }
      });
    }
  }
}
