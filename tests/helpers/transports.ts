/**
 * Transports driven in-process on 127.0.0.1, port 0: limits a test can change while links are
 * open, handlers that record what reaches them, bounded waits, and the greeting cases that
 * tests/transport-unit.test.ts runs as it is and tests/transport-unit-secret.test.ts with a
 * cluster secret.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { streamTransport } from "../../runtime/transport/stream.ts";
import type { Link, LinkHandlers, Listener, Transport, TransportLimits } from "../../runtime/transport/types.ts";
import { udpTransport } from "../../runtime/transport/udp.ts";
import { netaddr_ipv4, type NetAddr } from "../../stdlib/net.ts";

export const transports: ReadonlyArray<[name: string, transport: Transport]> = [["stream", streamTransport], ["udp", udpTransport]];

/** TransportLimits a test may change as it goes (the transports read them live). */
export type Limits = { -readonly [K in keyof TransportLimits]: TransportLimits[K] };

export function limits(changes: Partial<Limits> = {}): Limits {
  return {
    maxFrameBytes: 1 << 20, sendHighWater: 1 << 20, maxSendBytes: 32 << 20, maxSendBytesTotal: 256 << 20,
    partialFrameBytes: 128 << 20, maxConnections: 100, maxConnectionsPerSource: 100, udpBatchBytes: 1400, ...changes,
  };
}

/** Handlers that keep what reaches them (frames copied, as text). */
export interface Recorder extends LinkHandlers {
  readonly frames: string[];
  /** Set on onClose: the error, or null for an orderly close. */
  closed: { error: Error | null } | null;
}

export function recorder(): Recorder {
  const r: Recorder = {
    frames: [],
    closed: null,
    onFrame: (body) => void r.frames.push(body.toString()),
    onClose: (error) => void (r.closed = { error: error ?? null }),
  };
  return r;
}

/** Wait until `done()` holds, polling every 5 ms; fails after `ms`. */
export async function until(what: string, done: () => boolean, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A listener that records every link it accepts; closed when the test ends. */
export interface Listening {
  readonly listener: Listener;
  readonly accepted: Array<{ link: Link; got: Recorder }>;
  /** Close the listener (once, however often called). */
  close(): Promise<void>;
}

export async function listening(t: TestContext, transport: Transport, lim: TransportLimits, port = 0): Promise<Listening> {
  const accepted: Listening["accepted"] = [];
  const listener = await transport.listen(netaddr_ipv4("127.0.0.1", port), (link) => {
    const got = recorder();
    accepted.push({ link, got });
    return got;
  }, lim);
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= listener.close());
  t.after(close);
  return { listener, accepted, close };
}

/** Dial `addr`; the link is closed when the test ends. */
export async function dialed(t: TestContext, transport: Transport, addr: NetAddr, greeting: string, lim: TransportLimits = limits()) {
  const got = recorder();
  const link = await transport.connect(addr, () => got, { limits: lim, timeoutMs: 5000, greeting: Buffer.from(greeting) });
  t.after(() => link.close());
  return { link, got };
}

/** The greeting cases, for each transport: under whatever cluster secret the process has. */
export function greetingCases(label: string): void {
  for (const [name, transport] of transports) {
    test(`${label}${name}: the greeting reaches the listener first, once, then the frames in order; the listener's frames carry none`, async (t) => {
      const { listener, accepted } = await listening(t, transport, limits());
      const dialer = await dialed(t, transport, listener.addr, "GREETING");
      for (const body of ["a", "b", "c"]) dialer.link.send(Buffer.from(body));
      await until("the three frames", () => accepted[0]?.got.frames.length === 4);
      assert.deepEqual(accepted[0]!.got.frames, ["GREETING", "a", "b", "c"]);
      accepted[0]!.link.send(Buffer.from("reply"));
      await until("the reply", () => dialer.got.frames.length === 1);
      dialer.link.send(Buffer.from("d"));
      await until("the fourth frame", () => accepted[0]!.got.frames.length === 5);
      assert.deepEqual(dialer.got.frames, ["reply"]);
      assert.deepEqual(accepted[0]!.got.frames, ["GREETING", "a", "b", "c", "d"]);
      assert.equal(accepted.length, 1);
    });

    test(`${label}${name}: an empty greeting is none: the first frame sent is the first received`, async (t) => {
      const { listener, accepted } = await listening(t, transport, limits());
      const dialer = await dialed(t, transport, listener.addr, "");
      dialer.link.send(Buffer.from("a"));
      await until("the frame", () => accepted[0]?.got.frames.length === 1);
      await sleep(50);
      assert.deepEqual(accepted[0]!.got.frames, ["a"]);
    });
  }

  test(`${label}stream: the greeting is sent on connect, with nothing after it`, async (t) => {
    const { listener, accepted } = await listening(t, streamTransport, limits());
    await dialed(t, streamTransport, listener.addr, "GREETING");
    await until("the greeting", () => accepted[0]?.got.frames.length === 1);
    assert.deepEqual(accepted[0]!.got.frames, ["GREETING"]);
  });

  test(`${label}udp: the greeting is never sent alone; it rides on the first frame`, async (t) => {
    const { listener, accepted } = await listening(t, udpTransport, limits());
    const dialer = await dialed(t, udpTransport, listener.addr, "GREETING");
    await sleep(200);
    assert.equal(accepted.length, 0, "a link opened on a greeting alone");
    dialer.link.send(Buffer.from("a"));
    await until("the frame", () => accepted[0]?.got.frames.length === 2);
    assert.deepEqual(accepted[0]!.got.frames, ["GREETING", "a"]);
  });

  test(`${label}udp: a listener that lost its state (restarted on the same port) gets the greeting first again`, async (t) => {
    const first = await listening(t, udpTransport, limits());
    const { port } = first.listener.addr as { port: number };
    const dialer = await dialed(t, udpTransport, first.listener.addr, "GREETING");
    dialer.link.send(Buffer.from("a"));
    await until("the first frame", () => first.accepted[0]?.got.frames.length === 2);
    first.accepted[0]!.link.send(Buffer.from("reply")); // the dialer stops echoing the cookie
    await until("the reply", () => dialer.got.frames.length === 1);
    await first.close();
    const second = await listening(t, udpTransport, limits(), port);
    // The first datagrams find no link and get a COOKIE (with a secret: the dialer handshakes
    // again); a later one echoes it and opens a link, greeting first.
    let sent = 0;
    await until("a link on the new listener", () => {
      if (second.accepted[0]?.got.frames.length === 2) return true;
      dialer.link.send(Buffer.from(`x${sent++}`));
      return false;
    });
    const frames = second.accepted[0]!.got.frames;
    assert.equal(frames[0], "GREETING");
    assert.match(frames[1]!, /^x\d+$/);
    assert.equal(dialer.link.closed, false);
  });
}
