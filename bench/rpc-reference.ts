/**
 * The reference for the Plus benchmark: the fastest honest hand-written Node version of the
 * exchange, so that the bench's ratios mean "against the practical limit". Plain `net` and
 * cbor-x, one connection, length-prefixed frames, requests pipelined, no tasks, no names, no
 * deadlines. What makes it fast:
 *   - outgoing frames are copied into one buffer and written with one socket write at the end of
 *     the event-loop turn (setImmediate), or when the 64 KiB buffer is full (flushing every 32
 *     frames as well was 15-20% slower on a loaded machine, where a loopback write costs tens of
 *     microseconds; on a quiet one the old reference, flushing on a microtask or every 32 frames,
 *     measured as fast or faster, so this choice is still open);
 *   - the client reads through the socket's `onread` option into one reused buffer; the server
 *     (Node gives an accepted socket no `onread`) parses each chunk in place;
 *   - frames are decoded where they lie; only a partial frame's tail is copied, never
 *     concatenated;
 *   - TCP_NODELAY, and 1 s of warm-up before measuring.
 * RECORDS=1 makes both ends use cbor-x records with shapes sent once per connection (`sequential`),
 * the variant the bench reports beside it.
 *
 *   node --import tsx bench/rpc-reference.ts server                      prints the port
 *   node --import tsx bench/rpc-reference.ts client PORT CALLERS SECONDS  prints JSON, as plus-client.ts
 */
import { connect, createServer, type Socket } from "node:net";
import { Decoder, Encoder } from "cbor-x";

const records = process.env.RECORDS === "1";
const codec = () => (records ? { sequential: true, structures: [] } : { useRecords: false });
const WARM_UP_MS = 1000;
const BUFFER = 64 * 1024;

/** Frames both ways on one socket: returns the sender and the reader for incoming bytes. */
function framed(socket: Socket, onValue: (value: unknown) => void) {
  const encoder = new Encoder(codec());
  const decoder = new Decoder(codec());
  let out = Buffer.allocUnsafe(BUFFER);
  let pos = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pos === 0) return;
    socket.write(out.subarray(0, pos));
    out = Buffer.allocUnsafe(BUFFER);
    pos = 0;
  };
  const send = (value: unknown) => {
    const body = encoder.encode(value);
    if (pos + 4 + body.length > out.length) flush();
    out.writeUInt32BE(body.length, pos);
    out.set(body, pos + 4);
    pos += 4 + body.length;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  // The tail of a frame that spans reads (frames here are far smaller than the buffer).
  const tail = Buffer.allocUnsafe(BUFFER);
  let tailLen = 0;
  const parse = (data: Buffer, end: number) => {
    let at = 0;
    while (end - at >= 4) {
      const len = data.readUInt32BE(at);
      if (end - at - 4 < len) break;
      onValue(decoder.decode(data.subarray(at + 4, at + 4 + len)));
      at += 4 + len;
    }
    return at;
  };
  const read = (data: Buffer, n: number) => {
    if (tailLen > 0) {
      // Complete the pending frame from the front of this read, then go on in place.
      let used = 0;
      if (tailLen < 4) {
        used = Math.min(4 - tailLen, n);
        data.copy(tail, tailLen, 0, used);
        tailLen += used;
        if (tailLen < 4) return;
      }
      const want = 4 + tail.readUInt32BE(0) - tailLen;
      const take = Math.min(want, n - used);
      data.copy(tail, tailLen, used, used + take);
      tailLen += take;
      if (take < want) return;
      onValue(decoder.decode(tail.subarray(4, tailLen)));
      tailLen = 0;
      used += take;
      data = data.subarray(used, n);
      n -= used;
    }
    const at = parse(data, n);
    if (at < n) tailLen = data.copy(tail, 0, at, n);
  };
  socket.setNoDelay(true);
  return { send, read };
}

const [mode, port, callers, seconds] = process.argv.slice(2);
if (mode === "server") {
  const server = createServer((socket) => {
    const link = framed(socket, (value) => {
      const [id, args] = value as [number, { a: number; b: number }];
      link.send([id, args.a + args.b]);
    });
    socket.on("data", (chunk: Buffer) => link.read(chunk, chunk.length));
    socket.on("error", () => {});
  }).listen(0, "127.0.0.1", () => console.log((server.address() as { port: number }).port));
} else {
  const waiting = new Map<number, (sum: number) => void>();
  const buffer = Buffer.allocUnsafe(BUFFER);
  let link: ReturnType<typeof framed>;
  const socket = connect({ port: Number(port), host: "127.0.0.1", onread: { buffer, callback: (n) => (link.read(buffer, n), true) } });
  link = framed(socket, (value) => {
    const [id, sum] = value as [number, number];
    const done = waiting.get(id)!;
    waiting.delete(id);
    done(sum);
  });
  let nextId = 0;
  socket.on("connect", () => {
    const start = performance.now() + WARM_UP_MS;
    const until = start + Number(seconds) * 1000;
    const latencies: number[] = [];
    let cpu0: NodeJS.CpuUsage | null = null;
    let running = Number(callers);
    const caller = () => {
      const t0 = performance.now();
      const id = ++nextId;
      waiting.set(id, (sum) => {
        if (sum !== 3) throw new Error("wrong sum");
        const t1 = performance.now();
        if (t0 >= start) {
          cpu0 ??= process.cpuUsage();
          latencies.push(t1 - t0);
        }
        if (t1 < until) caller();
        else if (--running === 0) report();
      });
      link.send([id, { a: 1, b: 2 }]);
    };
    const report = () => {
      const cpu = process.cpuUsage(cpu0!);
      latencies.sort((x, y) => x - y);
      console.log(JSON.stringify({
        rate: latencies.length / Number(seconds),
        p50: latencies[latencies.length >> 1],
        p99: latencies[Math.floor(latencies.length * 0.99)],
        cpu: cpu.user + cpu.system,
        calls: latencies.length,
      }));
      socket.destroy();
    };
    for (let i = 0; i < Number(callers); i++) caller();
  });
}
