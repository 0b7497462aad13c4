/**
 * The reference for the Plus benchmark: the practical limit of Node for this exchange. Plain
 * `net` and cbor-x, one connection, length-prefixed frames, requests pipelined, writes batched
 * per turn and flushed every 32 frames, no tasks, no names, no deadlines.
 *
 *   node --import tsx bench/rpc-reference.ts server            prints the port
 *   node --import tsx bench/rpc-reference.ts client PORT CALLERS SECONDS   prints JSON
 */
import { connect, createServer, type Socket } from "node:net";
import { Decoder, Encoder } from "cbor-x";

const encoder = new Encoder({ useRecords: false });
const decoder = new Decoder({ useRecords: false });

/** Frames both ways on one socket; outgoing bodies go straight into one batch buffer. */
function framed(socket: Socket, onBody: (body: Buffer) => void): (value: unknown) => void {
  let out = Buffer.allocUnsafe(64 * 1024);
  let pos = 0;
  let count = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pos === 0) return;
    socket.write(out.subarray(0, pos));
    out = Buffer.allocUnsafe(64 * 1024);
    pos = 0;
    count = 0;
  };
  let rest: Buffer | null = null;
  socket.setNoDelay(true);
  socket.on("data", (chunk: Buffer) => {
    const data = rest === null ? chunk : Buffer.concat([rest, chunk]);
    let at = 0;
    while (data.length - at >= 4) {
      const len = data.readUInt32BE(at);
      if (data.length - at - 4 < len) break;
      onBody(data.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    rest = at < data.length ? data.subarray(at) : null;
  });
  return (value) => {
    const body = encoder.encode(value);
    if (pos + 4 + body.length > out.length) flush();
    out.writeUInt32BE(body.length, pos);
    out.set(body, pos + 4);
    pos += 4 + body.length;
    if (++count >= 32) flush();
    else if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
}

const [mode, port, callers, seconds] = process.argv.slice(2);
if (mode === "server") {
  const server = createServer((socket) => {
    const send = framed(socket, (body) => {
      const [id, args] = decoder.decode(body) as [number, { a: number; b: number }];
      send([id, args.a + args.b]);
    });
    socket.on("error", () => {});
  }).listen(0, "127.0.0.1", () => console.log((server.address() as { port: number }).port));
} else {
  const socket = connect(Number(port), "127.0.0.1");
  const waiting = new Map<number, (sum: number) => void>();
  const send = framed(socket, (body) => {
    const [id, sum] = decoder.decode(body) as [number, number];
    const done = waiting.get(id)!;
    waiting.delete(id);
    done(sum);
  });
  let nextId = 0;
  socket.on("connect", () => {
    const until = performance.now() + Number(seconds) * 1000;
    const latencies: number[] = [];
    let running = Number(callers);
    const caller = () => {
      const t0 = performance.now();
      const id = ++nextId;
      waiting.set(id, (sum) => {
        if (sum !== 3) throw new Error("wrong sum");
        const t1 = performance.now();
        latencies.push(t1 - t0);
        if (t1 < until) caller();
        else if (--running === 0) report();
      });
      send([id, { a: 1, b: 2 }]);
    };
    const report = () => {
      latencies.sort((x, y) => x - y);
      console.log(JSON.stringify({
        rate: latencies.length / Number(seconds),
        p50: latencies[latencies.length >> 1],
        p99: latencies[Math.floor(latencies.length * 0.99)],
      }));
      socket.destroy();
    };
    for (let i = 0; i < Number(callers); i++) caller();
  });
}
