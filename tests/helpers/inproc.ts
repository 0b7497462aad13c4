/**
 * Helpers for the in-process unit tests (tests/unit-*.test.ts): fake links that keep what is sent
 * on them, a bounded wait that lets the scheduler run, and a task run from a test as a promise.
 */
import { Spawn } from "../../runtime/scheduler/spawn.ts";
import type { Operation } from "../../runtime/scheduler/instruction.ts";
import { Conn } from "../../runtime/service/conn.ts";
import { Runtime } from "../../runtime/service/runtime.ts";
import type { Service } from "../../runtime/service/service.ts";
import type { Link } from "../../runtime/transport/types.ts";
import { decode, encode, PROTOCOL_VERSION, Type, type Envelope } from "../../runtime/wire/envelope.ts";

/** A link that keeps what is sent on it and counts pauses; `close()` marks it closed, and what is
 * sent after that goes to `lost`, not `sent` (a real link drops it). */
export interface FakeLink extends Link {
  readonly sent: Uint8Array[];
  readonly lost: Uint8Array[];
  /** What was sent, decoded. */
  frames(): Envelope[];
  pauses: number;
  resumes: number;
  closed: boolean;
  paused: boolean;
}

export function fakeLink(remote = "fake", opts: { reliable?: boolean; maxFrame?: number } = {}): FakeLink {
  const sent: Uint8Array[] = [];
  const lost: Uint8Array[] = [];
  const link: FakeLink = {
    remote, maxFrame: opts.maxFrame ?? 1 << 20, reliable: opts.reliable ?? true, buffered: 0, bytesIn: 0, bytesOut: 0,
    paused: false, closed: false, sent, lost, pauses: 0, resumes: 0,
    frames: () => sent.map((body) => decode(body)),
    send: (body: Uint8Array) => void (link.closed ? lost : sent).push(body),
    drained: () => Promise.resolve(),
    finished: () => Promise.resolve(),
    pause() {
      link.paused = true;
      link.pauses++;
    },
    resume() {
      link.paused = false;
      link.resumes++;
    },
    close() {
      link.closed = true;
    },
  };
  return link;
}

/** A runtime of its own (its root service has the default limits); it loads no scripts. */
export function newRuntime(): Runtime {
  return new Runtime(() => Promise.reject(new Error("no scripts in unit tests")), {});
}

/** A connection `service` accepted on `link`, greeted by a caller named `from` (HELLO first,
 * as the protocol wants). */
export function acceptedConn(service: Service, link: FakeLink, from: string | null = "Caller"): Conn {
  const conn = new Conn(service, link, null);
  conn.onFrame(Buffer.from(encode([Type.HELLO, PROTOCOL_VERSION, from, null, process.pid, null])));
  return conn;
}

/** Feed `envelope` to `conn` as a frame from its peer. */
export function arrive(conn: Conn, envelope: Envelope): void {
  conn.onFrame(Buffer.from(encode(envelope)));
}

/** Let the scheduler and I/O run until `done()`, at most `ms` (5 s). */
export async function until(done: () => boolean, what = "the condition", ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Wait `ms` of real time (for "nothing more happens" checks). */
export const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run the operation `body` gives in a task of its own and resolve with what it returns (reject with what it
 * throws), within `ms` (5 s). */
export function inTask<T>(body: () => Operation<T>, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      task.halt();
      reject(new Error(`the task did not finish within ${ms} ms`));
    }, ms);
    const task = Spawn(function* () {
      try {
        resolve(yield* body());
      } catch (error) {
        reject(error);
      } finally {
        clearTimeout(timer);
      }
    });
  });
}
