/**
 * The reference for the gate benchmark (bench/gate.ts): the fastest honest hand-written `ws`
 * server for the same exchange, so that the gate's ratios mean "against the practical limit".
 * It speaks the frames bench/gate-clients.ts sends and expects (docs/protocol.md section 13: a
 * HELLO on each connection, a REPLY to each REQUEST), but has no sessions, limits, routing,
 * channels or tasks: one `ws` server, CBOR with cbor-x.
 *
 *   Bench.Echo   REQUEST: the REPLY carries its args back
 *   Bench.Join   REQUEST: the connection joins the one set of members (REPLY true)
 *   Bench.Start  MESSAGE { seconds, window, pad }: broadcast PUSH [7, "bench", { seq, pad }] to
 *                every member, seq 1, 2, ..., keeping at most `window` not acked, for `seconds`
 *   Bench.Ack    MESSAGE n: every member holds broadcast n
 *
 * A broadcast is encoded once and the same buffer handed to ws.send for each member, as the
 * gate does; the window is the only bound on what is queued, the same one the gate runs under.
 *
 *   node --import tsx bench/gate-reference.ts     prints "port N"
 */
import { Decoder, Encoder } from "cbor-x";
import { WebSocketServer, type WebSocket } from "ws";

const HELLO = 0, REQUEST = 2, MESSAGE = 3, REPLY = 5, PUSH = 7;
const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false });

const members = new Set<WebSocket>();
const run = { seq: 0, acked: 0, window: 0, until: 0, pad: "" };

/** Send broadcasts while the window has room and the time lasts. */
function broadcast(): void {
  while (run.seq - run.acked < run.window && performance.now() < run.until) {
    const body = encoder.encode([PUSH, "bench", { seq: ++run.seq, pad: run.pad }]);
    for (const ws of members) ws.send(body, { binary: true });
  }
}

let next = 0;
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, clientTracking: false, maxPayload: 65_536 }, () => {
  console.log(`port ${(wss.address() as { port: number }).port}`);
});
wss.on("connection", (ws) => {
  ws.send(encoder.encode([HELLO, 1, `ref.${++next}`, 10_000, false, 65_536]), { binary: true });
  ws.on("message", (data: Buffer) => {
    const f = decoder.decode(data) as unknown[];
    if (f[0] === REQUEST) {
      if (f[2] === "Bench.Join") members.add(ws);
      ws.send(encoder.encode([REPLY, f[1], f[2] === "Bench.Join" ? true : f[3]]), { binary: true });
    } else if (f[0] === MESSAGE && f[1] === "Bench.Ack") {
      run.acked = Math.max(run.acked, f[2] as number);
      broadcast();
    } else if (f[0] === MESSAGE && f[1] === "Bench.Start") {
      const { seconds, window, pad } = f[2] as { seconds: number; window: number; pad: string };
      Object.assign(run, { seq: 0, acked: 0, window, pad, until: performance.now() + seconds * 1000 });
      broadcast();
    }
  });
  ws.on("close", () => members.delete(ws));
  ws.on("error", () => {});
});
