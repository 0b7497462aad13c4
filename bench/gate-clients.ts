/**
 * The load for the gate benchmark (bench/gate.ts): many WebSocket clients in one process, apart
 * from the server, speaking the client protocol (docs/protocol.md section 13: CBOR arrays, one
 * per binary message) through a minimal WebSocket client (bench/gate-ws-client.ts, cheaper than
 * the `ws` package's), to a luanet gate or to the hand-written server (bench/gate-reference.ts)
 * alike: both answer the same frames.
 *
 * Connections are opened in batches, each waiting for every HELLO of the batch before the next,
 * so the server's listen backlog is never overrun. Then the process prints a line and waits for
 * SIGUSR2 (bench/gate.ts sends it once every load process is ready), so that what is measured
 * starts when all clients of all load processes are connected.
 *
 *   requests URL CLIENTS SECONDS BATCH
 *     every client sends a REQUEST to Bench.Echo once a second (each at its own phase in the
 *     second) for SECONDS; prints { sent, replies, hist } as JSON, hist the latencies in
 *     10 µs buckets ([bucket, count] pairs), to be merged across load processes
 *   broadcast URL,URL... CLIENTS MS PHASES BATCH WINDOW
 *     CLIENTS clients on each server (SERVER_PIDS: their PIDs, in the same order) REQUEST
 *     Bench.Join, joining its channel. Then the servers take turns, PHASES times each (after one
 *     phase of warm-up each), so that they share the machine's noise: in a phase, the first
 *     client sends MESSAGE Bench.Start { seconds, window, pad }, and the server broadcasts PUSH
 *     frames numbered 1, 2, ..., keeping at most WINDOW of them not yet received by every client;
 *     the first client acks (MESSAGE Bench.Ack n) the highest number all clients hold, at most
 *     once per turn of the event loop. Receipts are counted for MS after 200 ms, then the phase
 *     ends once nothing has arrived for 100 ms, every client holding the last broadcast. Prints,
 *     per server, { rate } (receipts per second over all its clients) and { cpuPerReceipt } (the
 *     server's CPU time per receipt, µs) as a JSON array
 *
 * Anything unexpected (a KICK, an ERROR, a frame out of order, a connection lost) fails the run.
 */
import { readFileSync } from "node:fs";
import { Decoder, Encoder } from "cbor-x";
import { openWs, type WsClient } from "./gate-ws-client.ts";

const REQUEST = 2, MESSAGE = 3, HELLO = 0, REPLY = 5, PUSH = 7;
const CONNECT_TIMEOUT_MS = 20_000;
/** A broadcast phase runs this long before its receipts are counted. */
const PHASE_WARM_MS = 200;
/** A phase is over once nothing has arrived for this long. */
const QUIET_MS = 100;
/** Replies still missing this long after the last request fail the run. */
const DRAIN_MS = 5000;
/** What each broadcast carries besides its number: a PUSH frame of about 90 bytes. */
const PAD = "x".repeat(64);

const encoder = new Encoder({ useRecords: false });
const decoder = new Decoder({ useRecords: false });

/** The CPU time (user + system) process `pid` has used so far, µs, from /proc (10 ms steps). */
function cpuOf(pid: string): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function fail(message: string): never {
  console.error(`gate-clients: ${message}`);
  process.exit(1);
}

/** Open one client; resolves once its HELLO arrived. `onFrame` gets every later frame. */
function open(host: string, port: number, onFrame: (frame: unknown[]) => void): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    let hello = false;
    const upgrading = openWs(host, port, {
      message(body) {
        const frame = decoder.decode(body) as unknown[];
        if (hello) return onFrame(frame);
        if (frame[0] !== HELLO) return reject(new Error(`the first frame is not HELLO: ${JSON.stringify(frame)}`));
        hello = true;
        upgrading.then(resolve);
      },
      closed(why) {
        if (!hello) reject(new Error(`closed before HELLO: ${why}`));
        else if (!stopping) fail(`a client's connection ended during the run: ${why}`);
      },
    }, CONNECT_TIMEOUT_MS);
    upgrading.catch(reject);
  });
}

/** Set once the results are printed: connections closing after it are expected. */
let stopping = false;

/** Open `count` clients, `batch` at a time; `onFrame(i, frame)` gets client i's frames. */
async function openAll(url: string, count: number, batch: number, onFrame: (i: number, frame: unknown[]) => void): Promise<WsClient[]> {
  const { hostname, port } = new URL(url);
  const all: WsClient[] = [];
  for (let at = 0; at < count; at += batch) {
    const n = Math.min(batch, count - at);
    const opened = await Promise.all(Array.from({ length: n }, (_, k) => open(hostname, Number(port), (f) => onFrame(at + k, f))));
    all.push(...opened);
  }
  return all;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const go = () => new Promise<void>((resolve) => process.once("SIGUSR2", () => resolve()));

function unexpected(i: number, frame: unknown[]): never {
  fail(`client ${i} got an unexpected frame: ${JSON.stringify(frame).slice(0, 300)}`);
}

async function requests(url: string, clients: number, seconds: number, batch: number): Promise<void> {
  /** When client i sent its request k (1..seconds): sentAt[i * seconds + k - 1], -1 once answered. */
  const sentAt = new Float64Array(clients * seconds).fill(-1);
  const hist = new Map<number, number>();
  const total = clients * seconds;
  let sent = 0, replies = 0;
  const finish = () => {
    stopping = true;
    console.log(JSON.stringify({ sent, replies, hist: [...hist] }));
    process.exit(0);
  };
  const ws = await openAll(url, clients, batch, (i, f) => {
    const k = f[1] as number;
    const at = i * seconds + k - 1;
    if (f[0] !== REPLY || !(k >= 1 && k <= seconds) || sentAt[at]! < 0 || (f[2] as { n: number }).n !== i) unexpected(i, f);
    const bucket = Math.round((performance.now() - sentAt[at]!) * 100);
    sentAt[at] = -1;
    hist.set(bucket, (hist.get(bucket) ?? 0) + 1);
    replies++;
    if (replies === total) finish();
  });
  const ready = go();
  console.log(`connected ${clients}`);
  await ready;
  const t0 = performance.now();
  for (let i = 0; i < clients; i++) {
    let k = 0;
    const send = () => {
      k++;
      sentAt[i * seconds + k - 1] = performance.now();
      sent++;
      ws[i]!.send(encoder.encode([REQUEST, k, "Bench.Echo", { n: i }]));
    };
    // Each client at its own phase in the second, then once a second: `seconds` requests each.
    setTimeout(() => {
      send();
      const every = setInterval(() => (k === seconds ? clearInterval(every) : send()), 1000);
    }, (1000 * i) / clients);
  }
  setTimeout(() => fail(`${total - replies} of ${total} requests (${sent} sent) have no reply ${DRAIN_MS} ms after the last was due, ${(performance.now() - t0).toFixed(0)} ms in`), seconds * 1000 + DRAIN_MS);
}

/** One server's clients in the broadcast scenario, and how far they are. */
class Audience {
  private readonly last: Uint32Array;
  private readonly joined: Uint8Array;
  /** How many clients hold broadcast n, for the n not yet held by all (a ring wider than the window). */
  private readonly holders: Uint32Array;
  private readonly ring: number;
  /** The highest n every client holds. */
  private all = 0;
  private receipts = 0;
  private counting = false;
  private ackScheduled = false;
  private lastPush = 0;
  private joins = 0;
  private onJoined = () => {};
  private ws: WsClient[] = [];

  constructor(readonly url: string, readonly clients: number, readonly window: number, readonly pid: string) {
    this.last = new Uint32Array(clients);
    this.joined = new Uint8Array(clients);
    this.ring = 1 << Math.ceil(Math.log2(4 * window + 16));
    this.holders = new Uint32Array(this.ring);
  }

  async open(batch: number): Promise<void> {
    this.ws = await openAll(this.url, this.clients, batch, (i, f) => this.frame(i, f));
  }

  /** Every client REQUESTs Bench.Join; resolves once all are answered. */
  join(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.onJoined = resolve;
      for (const w of this.ws) w.send(encoder.encode([REQUEST, 1, "Bench.Join", null]));
      setTimeout(() => this.joins < this.clients && fail(`${this.clients - this.joins} clients of ${this.url} have no answer to Bench.Join after 10 s`), 10_000).unref();
    });
  }

  /**
   * One phase: the server broadcasts for warmMs + measureMs (and a little more); receipts are
   * counted over the last measureMs, then the clients wait until nothing has arrived for
   * QUIET_MS, so that the next phase starts from nothing in flight.
   */
  async phase(warmMs: number, measureMs: number): Promise<{ receipts: number; ms: number; cpu: number }> {
    this.last.fill(0);
    this.holders.fill(0);
    this.all = 0;
    this.receipts = 0;
    this.ws[0]!.send(encoder.encode([MESSAGE, "Bench.Start", { seconds: (warmMs + measureMs + 100) / 1000, window: this.window, pad: PAD }]));
    await sleep(warmMs);
    this.counting = true;
    const t0 = performance.now(), cpu0 = cpuOf(this.pid);
    await sleep(measureMs);
    this.counting = false;
    const ms = performance.now() - t0, cpu = cpuOf(this.pid) - cpu0;
    const quietBy = performance.now() + 10_000;
    while (performance.now() - this.lastPush < QUIET_MS) {
      if (performance.now() > quietBy) fail(`broadcasts from ${this.url} still arrive 10 s after the phase`);
      await sleep(QUIET_MS / 2);
    }
    if (this.receipts === 0) fail(`no broadcast from ${this.url} arrived in ${measureMs} ms`);
    // Each broadcast went to every member at once: once quiet, every client holds the last one.
    for (let i = 0; i < this.clients; i++) if (this.last[i] !== this.all) fail(`client ${i} of ${this.url} holds broadcast ${this.last[i]}, the last is ${this.all}`);
    return { receipts: this.receipts, ms, cpu };
  }

  private frame(i: number, f: unknown[]): void {
    if (f[0] === PUSH) {
      const n = (f[2] as { seq: number }).seq;
      if (n !== this.last[i]! + 1 || this.joined[i] === 0) unexpected(i, f);
      this.last[i] = n;
      this.lastPush = performance.now();
      if (this.counting) this.receipts++;
      const at = n & (this.ring - 1);
      if (++this.holders[at]! === this.clients) {
        // In order on every connection: n is held by all once its count is full, and n-1 was first.
        this.holders[at] = 0;
        this.all = n;
        if (!this.ackScheduled) {
          this.ackScheduled = true;
          setImmediate(() => this.ack());
        }
      }
      return;
    }
    if (f[0] !== REPLY || f[1] !== 1 || this.joined[i] !== 0) unexpected(i, f);
    this.joined[i] = 1;
    if (++this.joins === this.clients) this.onJoined();
  }

  private ack(): void {
    this.ackScheduled = false;
    if (!stopping) this.ws[0]!.send(encoder.encode([MESSAGE, "Bench.Ack", this.all]));
  }
}

/** Broadcasts to each server's audience in turn, `phases` times (after one phase of warm-up each). */
async function broadcast(urls: string[], pids: string[], clients: number, measureMs: number, phases: number, batch: number, window: number): Promise<void> {
  const audiences = urls.map((url, k) => new Audience(url, clients, window, pids[k]!));
  for (const a of audiences) await a.open(batch);
  const ready = go();
  console.log(`connected ${clients * audiences.length}`);
  await ready;
  for (const a of audiences) await a.join();
  for (const a of audiences) await a.phase(PHASE_WARM_MS, 1000); // warm-up, not counted
  const totals = audiences.map(() => ({ receipts: 0, ms: 0, cpu: 0 }));
  for (let p = 0; p < phases; p++) {
    for (const [k, a] of audiences.entries()) {
      const r = await a.phase(PHASE_WARM_MS, measureMs);
      const t = totals[k]!;
      t.receipts += r.receipts;
      t.ms += r.ms;
      t.cpu += r.cpu;
    }
  }
  stopping = true;
  console.log(JSON.stringify(totals.map((t) => ({ rate: (t.receipts * 1000) / t.ms, cpuPerReceipt: t.cpu / t.receipts }))));
  process.exit(0);
}

const [mode, ...args] = process.argv.slice(2);
const number = (i: number, what: string): number => {
  const n = Number(args[i]);
  if (!(n > 0)) fail(`${mode}: ${what} (argument ${i + 2}) must be a positive number, got ${JSON.stringify(args[i])}`);
  return n;
};
if (mode === "requests") await requests(args[0]!, number(1, "CLIENTS"), number(2, "SECONDS"), number(3, "BATCH"));
else if (mode === "broadcast") await broadcast(args[0]!.split(","), (process.env.SERVER_PIDS ?? "").split(","), number(1, "CLIENTS"), number(2, "MS"), number(3, "PHASES"), number(4, "BATCH"), number(5, "WINDOW"));
else fail(`usage: gate-clients.ts requests URL CLIENTS SECONDS BATCH, or broadcast URL,URL... CLIENTS MS PHASES BATCH WINDOW; got ${process.argv.slice(2).join(" ")}`);
